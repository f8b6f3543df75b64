// The board rules (board/board-state.js) against the cases of tasks-read's
// BoardProjectionTest: the worker and the tests must apply changes exactly as tasks-read does.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoardState, PresenceState, beforeForMove, boardFromLog, isBoardName, titleProblem } from '../board/board-state.js';

const ids = (/** @type {BoardState} */ s) => s.tasks().map((t) => t.task);
/** @param {string[]} list */
const board = (...list) => {
  const s = new BoardState();
  for (const task of list) s.apply('task.added', { board: 'b', task, title: task });
  return s;
};

test('added without before goes to the end; before X goes just before X; a missing X means the end', () => {
  const s = board('a', 'b');
  assert.equal(s.apply('task.added', { task: 'c', title: 'c', before: 'a' }), true);
  assert.deepEqual(ids(s), ['c', 'a', 'b']);
  s.apply('task.added', { task: 'd', title: 'd', before: 'gone' });
  s.apply('task.added', { task: 'e', title: 'e', before: null });
  assert.deepEqual(ids(s), ['c', 'a', 'b', 'd', 'e']);
});

test('an add for a task that exists and changes for a task that does not change nothing', () => {
  const s = board('a');
  assert.equal(s.apply('task.added', { task: 'a', title: 'again' }), false);
  assert.equal(s.get('a')?.title, 'a');
  for (const type of ['task.renamed', 'task.completed', 'task.reopened', 'task.moved', 'task.removed']) {
    assert.equal(s.apply(type, { task: 'nope', title: 'x' }), false, type);
  }
  assert.equal(s.apply('task.exploded', { task: 'a' }), false);
  assert.equal(s.apply('task.renamed', { title: 'no task field' }), false);
  assert.deepEqual(s.tasks(), [{ task: 'a', title: 'a', done: false }]);
});

test('rename, complete, reopen; a change to the same value reports no change', () => {
  const s = board('a');
  assert.equal(s.apply('task.renamed', { task: 'a', title: 'A' }), true);
  assert.equal(s.apply('task.renamed', { task: 'a', title: 'A' }), false);
  assert.equal(s.apply('task.completed', { task: 'a' }), true);
  assert.equal(s.apply('task.completed', { task: 'a' }), false);
  assert.deepEqual(s.get('a'), { task: 'a', title: 'A', done: true });
  assert.equal(s.apply('task.reopened', { task: 'a' }), true);
  assert.equal(s.get('a')?.done, false);
});

test('moves: before another, to the end, before itself (nothing), before a missing task (the end)', () => {
  const s = board('a', 'b', 'c');
  s.apply('task.moved', { task: 'c', before: 'a' });
  assert.deepEqual(ids(s), ['c', 'a', 'b']);
  s.apply('task.moved', { task: 'c', before: null });
  assert.deepEqual(ids(s), ['a', 'b', 'c']);
  assert.equal(s.apply('task.moved', { task: 'b', before: 'b' }), false);
  assert.deepEqual(ids(s), ['a', 'b', 'c']);
  s.apply('task.moved', { task: 'a', before: 'gone' });
  assert.deepEqual(ids(s), ['b', 'c', 'a']);
});

test('remove, then an add of the same id comes back at the end', () => {
  const s = board('a', 'b');
  assert.equal(s.apply('task.removed', { task: 'a' }), true);
  assert.equal(s.apply('task.removed', { task: 'a' }), false);
  s.apply('task.added', { task: 'a', title: 'again' });
  assert.deepEqual(ids(s), ['b', 'a']);
});

test('a snapshot is the starting point; duplicates in it are ignored', () => {
  const s = new BoardState([
    { task: 'x', title: 'X', done: true },
    { task: 'y', title: 'Y', done: false },
    { task: 'x', title: 'again', done: false },
  ]);
  assert.deepEqual(s.tasks(), [
    { task: 'x', title: 'X', done: true },
    { task: 'y', title: 'Y', done: false },
  ]);
});

test('boardFromLog replays only the named board', () => {
  const log = [
    { type: 'task.added', data: { board: 'one', task: 'a', title: 'A' } },
    { type: 'task.added', data: { board: 'two', task: 'a', title: 'other board' } },
    { type: 'task.completed', data: { board: 'one', task: 'a' } },
    { type: 'task.removed', data: { board: 'two', task: 'a' } },
  ];
  assert.deepEqual(boardFromLog(log, 'one').tasks(), [{ task: 'a', title: 'A', done: true }]);
  assert.deepEqual(boardFromLog(log, 'two').tasks(), []);
});

test('beforeForMove: up is before the one above; down is before the one two below, or the end', () => {
  const tasks = board('a', 'b', 'c').tasks();
  assert.equal(beforeForMove(tasks, 0, -1), undefined);
  assert.equal(beforeForMove(tasks, 1, -1), 'a');
  assert.equal(beforeForMove(tasks, 0, 1), 'c');
  assert.equal(beforeForMove(tasks, 1, 1), null);
  assert.equal(beforeForMove(tasks, 2, 1), undefined);
  // Applying the answer moves by exactly one place.
  const s = board('a', 'b', 'c');
  s.apply('task.moved', { task: 'a', before: beforeForMove(s.tasks(), 0, 1) });
  assert.deepEqual(ids(s), ['b', 'a', 'c']);
});

test('names and titles are checked as tasks-write checks them', () => {
  assert.equal(isBoardName('welcome'), true);
  assert.equal(isBoardName('a'.repeat(64)), true);
  for (const bad of ['', 'A', 'a b', 'a'.repeat(65), 'é', 7]) assert.equal(isBoardName(bad), false, String(bad));
  assert.equal(titleProblem('x'), undefined);
  assert.match(String(titleProblem('   ')), /needs a title/);
  assert.match(String(titleProblem('x'.repeat(501))), /at most 500/);
  assert.equal(titleProblem('x'.repeat(500)), undefined);
});

test('presence: snapshot in parts, joined, updated, left; you first', () => {
  const p = new PresenceState();
  assert.equal(p.apply({ type: 'presence.snapshot', data: { viewers: [{ viewer: 'b', links: 1 }], you: 'z', complete: false } }), false);
  assert.equal(p.apply({ type: 'presence.snapshot.more', data: { viewers: [{ viewer: 'z', links: 1 }], complete: true } }), true);
  assert.deepEqual(p.list().map((v) => v.viewer), ['z', 'b']);
  p.apply({ type: 'presence.joined', data: { viewer: 'a', links: 1 } });
  p.apply({ type: 'presence.updated', data: { viewer: 'a', links: 2 } });
  assert.deepEqual(p.list(), [
    { viewer: 'z', links: 1, you: true },
    { viewer: 'a', links: 2, you: false },
    { viewer: 'b', links: 1, you: false },
  ]);
  assert.equal(p.apply({ type: 'presence.left', data: { viewer: 'b' } }), true);
  assert.equal(p.apply({ type: 'presence.left', data: { viewer: 'b' } }), false);
  assert.equal(p.apply({ type: 'presence.snapshot.more', data: { viewers: [] } }), false, 'a part without its start');
});
