package dev.eventpaths.tasks.read;

import com.fasterxml.jackson.databind.JsonNode;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The tasks of one board, in board order, built by applying the log's changes one by one.
 *
 * <p>The rules are deterministic and total, because guests apply the very same changes to the
 * snapshot they were sent and must end up with the same board:
 *
 * <ul>
 *   <li>{@code before} = {@code null} (or absent) places the task at the end; {@code before} =
 *       X places it just before task X; if X does not exist (any more), at the end.
 *   <li>{@code task.added} for a task that exists, or any other change for a task that does
 *       not, changes nothing (tasks-write rejects such commands, so the log should hold none).
 *   <li>{@code task.moved} with {@code before} = the task itself changes nothing.
 *   <li>Unknown {@code task.*} types change nothing.
 * </ul>
 *
 * <p>Not thread-safe: {@link Boards} guards it.
 */
final class BoardProjection {
  /** One task as guests see it. */
  record Task(String task, String title, boolean done) {}

  // A list in board order plus an index by id: boards are small (a page of tasks), so the
  // linear search for a position costs less than keeping a linked structure consistent.
  private final List<Task> order = new ArrayList<>();
  private final Map<String, Task> byId = new HashMap<>();

  /**
   * Applies one change.
   *
   * @param type the change's event type ({@code task.added}, ...)
   * @param data its payload: {@code task}, and {@code title} / {@code before} where the type has them
   * @return whether the board changed
   */
  boolean apply(String type, JsonNode data) {
    String id = text(data, "task");
    if (id == null) {
      return false;
    }
    Task current = byId.get(id);
    switch (type) {
      case "task.added" -> {
        if (current != null) {
          return false;
        }
        insert(new Task(id, textOr(data, "title", ""), false), text(data, "before"));
        return true;
      }
      case "task.renamed" -> {
        return current != null && replace(current, new Task(id, textOr(data, "title", current.title()), current.done()));
      }
      case "task.completed", "task.reopened" -> {
        return current != null && replace(current, new Task(id, current.title(), type.equals("task.completed")));
      }
      case "task.moved" -> {
        String before = text(data, "before");
        if (current == null || id.equals(before)) {
          return false;
        }
        order.remove(indexOf(id));
        byId.remove(id);
        insert(current, before);
        return true;
      }
      case "task.removed" -> {
        if (current == null) {
          return false;
        }
        order.remove(indexOf(id));
        byId.remove(id);
        return true;
      }
      default -> {
        return false;
      }
    }
  }

  /** The tasks in board order (a copy: tasks are immutable, the list is the caller's). */
  List<Task> tasks() {
    return List.copyOf(order);
  }

  int size() {
    return order.size();
  }

  private void insert(Task task, String before) {
    int at = before == null || !byId.containsKey(before) ? order.size() : indexOf(before);
    order.add(at, task);
    byId.put(task.task(), task);
  }

  private boolean replace(Task current, Task next) {
    if (current.equals(next)) {
      return false;
    }
    order.set(indexOf(current.task()), next);
    byId.put(next.task(), next);
    return true;
  }

  private int indexOf(String id) {
    for (int i = 0; i < order.size(); i++) {
      if (order.get(i).task().equals(id)) {
        return i;
      }
    }
    throw new IllegalStateException("task " + id + " is indexed but not in order");
  }

  private static String text(JsonNode data, String field) {
    JsonNode v = data == null ? null : data.get(field);
    return v == null || v.isNull() ? null : v.asText();
  }

  private static String textOr(JsonNode data, String field, String fallback) {
    String v = text(data, field);
    return v == null ? fallback : v;
  }
}
