package dev.eventpaths.tasks.write;

/**
 * One accepted change, as appended to the log.
 *
 * @param type {@code task.added}, {@code task.renamed}, {@code task.completed},
 *     {@code task.reopened}, {@code task.moved} or {@code task.removed}
 * @param commandId the {@code id} of the command that made it
 * @param board the board
 * @param task the task
 * @param title the title, for added and renamed
 * @param before the task it is placed before ({@code null}: at the end), for added and moved
 * @param at when it was accepted, in epoch milliseconds
 */
public record Change(String type, String commandId, String board, String task, String title, String before, long at) {}
