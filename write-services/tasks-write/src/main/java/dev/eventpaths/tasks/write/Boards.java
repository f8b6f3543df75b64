package dev.eventpaths.tasks.write;

import com.fasterxml.jackson.databind.JsonNode;
import dev.eventpaths.Event;
import java.util.HashMap;
import java.util.Map;
import java.util.regex.Pattern;

/**
 * What the writer needs to know to validate commands: which tasks exist on which board. It
 * is rebuilt from the log at start and changed only by the writer thread, after a commit
 * (and tentatively, in a copy-on-write overlay, while a batch is validated).
 */
final class Boards {
  static final Pattern BOARD = Pattern.compile("[a-z0-9][a-z0-9-]{0,63}");
  static final Pattern TASK = Pattern.compile("[A-Za-z0-9_-]{1,64}");
  static final int MAX_TITLE = 500;

  /** board -> task -> exists (true) or removed in the batch being validated (false). */
  private final Map<String, Map<String, Boolean>> tasks = new HashMap<>();

  /** Validates {@code command} against this state and returns the change it makes. */
  Change validate(Event command, long now) throws Rejection {
    String type = command.type();
    JsonNode d = command.data() == null ? null : command.data().tree();
    if (command.id() == null) {
      throw new Rejection("missing_field", "a command needs an id (so a retry is applied once)");
    }
    String changeType = switch (type) {
      case "task.add" -> "task.added";
      case "task.rename" -> "task.renamed";
      case "task.complete" -> "task.completed";
      case "task.reopen" -> "task.reopened";
      case "task.move" -> "task.moved";
      case "task.remove" -> "task.removed";
      default -> throw new Rejection("unknown_command", "unknown command '" + type + "'");
    };
    if (d == null || !d.isObject()) {
      throw new Rejection("missing_field", "a command needs data with a board and a task");
    }
    String board = text(d, "board");
    String task = text(d, "task");
    if (!BOARD.matcher(board).matches()) {
      throw new Rejection("bad_board", "board names are 1-64 of a-z 0-9 -");
    }
    if (!TASK.matcher(task).matches()) {
      throw new Rejection("bad_task_id", "task ids are 1-64 of A-Z a-z 0-9 _ -");
    }
    boolean exists = exists(board, task);
    String title = null;
    String before = null;
    switch (type) {
      case "task.add" -> {
        if (exists) {
          throw new Rejection("task_exists", "task " + task + " is already on " + board);
        }
        title = title(d);
        before = before(d, board, task);
      }
      case "task.rename" -> {
        requireExists(exists, board, task);
        title = title(d);
      }
      case "task.move" -> {
        requireExists(exists, board, task);
        before = before(d, board, task);
      }
      default -> requireExists(exists, board, task);
    }
    return new Change(changeType, command.id(), board, task, title, before, now);
  }

  /** Applies a change that is (or is about to be) in the log. */
  void apply(Change c) {
    Map<String, Boolean> board = tasks.computeIfAbsent(c.board(), b -> new HashMap<>());
    if (c.type().equals("task.added")) {
      board.put(c.task(), true);
    } else if (c.type().equals("task.removed")) {
      board.remove(c.task());
    }
  }

  int boards() {
    return tasks.size();
  }

  private boolean exists(String board, String task) {
    Map<String, Boolean> b = tasks.get(board);
    return b != null && b.containsKey(task);
  }

  private static void requireExists(boolean exists, String board, String task) throws Rejection {
    if (!exists) {
      throw new Rejection("no_such_task", "there is no task " + task + " on " + board);
    }
  }

  private static String text(JsonNode d, String field) throws Rejection {
    JsonNode v = d.get(field);
    if (v == null || !v.isTextual() || v.asText().isEmpty()) {
      throw new Rejection("missing_field", "data." + field + " is required");
    }
    return v.asText();
  }

  private static String title(JsonNode d) throws Rejection {
    String t = text(d, "title").strip();
    if (t.isEmpty() || t.length() > MAX_TITLE) {
      throw new Rejection("bad_title", "a title is 1-" + MAX_TITLE + " characters");
    }
    return t;
  }

  private String before(JsonNode d, String board, String task) throws Rejection {
    JsonNode v = d.get("before");
    if (v == null || v.isNull()) {
      return null;
    }
    if (!v.isTextual() || !TASK.matcher(v.asText()).matches()) {
      throw new Rejection("bad_task_id", "data.before must be a task id or null");
    }
    String before = v.asText();
    if (before.equals(task)) {
      throw new Rejection("bad_task_id", "a task cannot be placed before itself");
    }
    if (!exists(board, before)) {
      throw new Rejection("no_such_task", "there is no task " + before + " on " + board + " to place it before");
    }
    return before;
  }
}
