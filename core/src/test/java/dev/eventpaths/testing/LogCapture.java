package dev.eventpaths.testing;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.logging.Handler;
import java.util.logging.LogRecord;
import java.util.logging.Logger;

/** The records one logger category writes while a test runs (JBoss LogManager is a JUL one). */
public final class LogCapture extends Handler implements AutoCloseable {
  public final List<LogRecord> records = new CopyOnWriteArrayList<>();
  private final Logger logger;

  private LogCapture(String category) {
    logger = Logger.getLogger(category);
    logger.addHandler(this);
  }

  public static LogCapture of(String category) {
    return new LogCapture(category);
  }

  /** The formatted text of each record (JBoss records keep their message as given). */
  public List<String> lines() {
    return records.stream().map(r -> r.getMessage()).toList();
  }

  @Override
  public void publish(LogRecord r) {
    records.add(r);
  }

  @Override
  public void flush() {}

  @Override
  public void close() {
    logger.removeHandler(this);
  }
}
