package dev.eventpaths.tasks.read;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.eventpaths.Event;
import dev.eventpaths.Json;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The projection rules (README, "Board order"), which guests repeat on their side. */
class BoardProjectionTest {
  static final ObjectMapper MAPPER = new ObjectMapper();
  final BoardProjection board = new BoardProjection();

  boolean apply(String type, String task, Object... kv) {
    Map<String, Object> data = new HashMap<>();
    data.put("board", "b");
    data.put("task", task);
    for (int i = 0; i < kv.length; i += 2) {
      data.put((String) kv[i], kv[i + 1]);
    }
    JsonNode tree = MAPPER.valueToTree(data);
    return board.apply(type, tree);
  }

  List<String> order() {
    List<String> ids = new ArrayList<>();
    board.tasks().forEach(t -> ids.add(t.task()));
    return ids;
  }

  @Test
  void addWithoutBeforeGoesToTheEnd() {
    apply("task.added", "a", "title", "A");
    apply("task.added", "b", "title", "B", "before", null);
    apply("task.added", "c", "title", "C");
    assertEquals(List.of("a", "b", "c"), order());
  }

  @Test
  void addBeforeAnExistingTaskGoesJustBeforeIt() {
    apply("task.added", "a", "title", "A");
    apply("task.added", "c", "title", "C");
    apply("task.added", "b", "title", "B", "before", "c");
    apply("task.added", "z", "title", "Z", "before", "a");
    assertEquals(List.of("z", "a", "b", "c"), order());
  }

  @Test
  void addBeforeATaskThatNoLongerExistsGoesToTheEnd() {
    apply("task.added", "a", "title", "A");
    apply("task.added", "x", "title", "X");
    apply("task.removed", "x");
    apply("task.added", "b", "title", "B", "before", "x");
    assertEquals(List.of("a", "b"), order());
  }

  @Test
  void moveBeforeAnotherTaskToTheEndAndBeforeAMissingTask() {
    for (String id : List.of("a", "b", "c", "d")) {
      apply("task.added", id, "title", id.toUpperCase());
    }
    assertTrue(apply("task.moved", "d", "before", "a"));
    assertEquals(List.of("d", "a", "b", "c"), order());
    assertTrue(apply("task.moved", "a", "before", null));
    assertEquals(List.of("d", "b", "c", "a"), order());
    assertTrue(apply("task.moved", "b", "before", "gone"));
    assertEquals(List.of("d", "c", "a", "b"), order());
    assertTrue(apply("task.moved", "b", "before", "c"));
    assertEquals(List.of("d", "b", "c", "a"), order());
  }

  @Test
  void moveBeforeItselfChangesNothing() {
    apply("task.added", "a", "title", "A");
    apply("task.added", "b", "title", "B");
    assertFalse(apply("task.moved", "a", "before", "a"));
    assertEquals(List.of("a", "b"), order());
  }

  @Test
  void renameCompleteReopenAndRemoveKeepThePlace() {
    apply("task.added", "a", "title", "A");
    apply("task.added", "b", "title", "B");
    apply("task.added", "c", "title", "C");
    apply("task.renamed", "b", "title", "Bee");
    apply("task.completed", "b");
    assertEquals(new BoardProjection.Task("b", "Bee", true), board.tasks().get(1));
    apply("task.reopened", "b");
    assertEquals(new BoardProjection.Task("b", "Bee", false), board.tasks().get(1));
    apply("task.removed", "a");
    assertEquals(List.of("b", "c"), order());
    assertEquals(2, board.size());
  }

  @Test
  void changesToMissingTasksAddsOfExistingTasksAndUnknownTypesChangeNothing() {
    apply("task.added", "a", "title", "A");
    assertFalse(apply("task.added", "a", "title", "again"));
    assertFalse(apply("task.renamed", "nope", "title", "x"));
    assertFalse(apply("task.moved", "nope", "before", "a"));
    assertFalse(apply("task.removed", "nope"));
    assertFalse(apply("task.completed", "nope"));
    assertFalse(apply("task.archived", "a"));
    assertEquals(List.of(new BoardProjection.Task("a", "A", false)), board.tasks());
  }

  @Test
  void historyKeepsTheLastChangesAndKnowsWhatItCovers() {
    History h = new History(3);
    assertTrue(h.covers(0));
    for (long seq = 10; seq <= 50; seq += 10) {
      h.add(new Event("task.added", null, seq, Json.EMPTY_OBJECT));
    }
    assertEquals(20, h.floor(), "seq 10 and 20 were dropped to make room");
    assertFalse(h.covers(19));
    assertTrue(h.covers(20));
    assertEquals(List.of(30L, 40L, 50L), h.after(20, 10).stream().map(Event::seq).toList());
    assertEquals(List.of(40L, 50L), h.after(35, 10).stream().map(Event::seq).toList());
    assertEquals(List.of(30L), h.after(0, 1).stream().map(Event::seq).toList());
    assertEquals(List.of(), h.after(50, 10));
  }

  @Test
  void aBigBoardIsSentInPartsThatEachFitAndKeepTheOrder() {
    List<BoardProjection.Task> tasks = new ArrayList<>();
    for (int i = 0; i < 500; i++) {
      tasks.add(new BoardProjection.Task("t" + i, "é\"".repeat(100) + i, i % 2 == 0));
    }
    List<Event> parts = BoardFeed.snapshotEvents("big", 77, tasks, 8192);
    assertTrue(parts.size() > 1, "several parts: " + parts.size());
    List<String> ids = new ArrayList<>();
    for (int i = 0; i < parts.size(); i++) {
      Event p = parts.get(i);
      assertEquals(i == 0 ? "board.snapshot" : "board.snapshot.more", p.type());
      assertEquals(77, p.seq());
      assertTrue(p.data().byteLength() <= 8192, "part " + i + " is " + p.data().byteLength() + " bytes");
      JsonNode d = p.data().tree();
      assertEquals("big", d.get("board").asText());
      assertEquals(i == parts.size() - 1, d.get("complete").asBoolean());
      d.get("tasks").forEach(t -> ids.add(t.get("task").asText()));
    }
    assertEquals(tasks.stream().map(BoardProjection.Task::task).toList(), ids);
    List<Event> empty = BoardFeed.snapshotEvents("empty", 0, List.of(), 8192);
    assertEquals(1, empty.size());
    assertEquals("{\"board\":\"empty\",\"tasks\":[],\"complete\":true}", empty.get(0).data().toString());
  }
}
