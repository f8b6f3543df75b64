package dev.eventpaths.tasks.write;

/** Why a command cannot be applied: final, the guest shows it and drops the command. */
public final class Rejection extends Exception {
  private final String reason;

  public Rejection(String reason, String message) {
    super(message, null, false, false);
    this.reason = reason;
  }

  public String reason() {
    return reason;
  }
}
