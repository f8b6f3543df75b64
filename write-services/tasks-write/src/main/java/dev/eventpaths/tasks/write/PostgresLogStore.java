package dev.eventpaths.tasks.write;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.LongConsumer;
import java.util.function.Supplier;
import org.jboss.logging.Logger;
import org.postgresql.PGConnection;
import org.postgresql.PGNotification;

/**
 * The log in PostgreSQL, shared by several tasks-write instances (Fly starts two).
 *
 * <p>Writers take a transaction-scoped advisory lock, so one instance appends at a time; inside
 * it an instance first catches up on what the others appended (its validation state must be
 * current), then appends at the next positions. {@code COMMIT} is durable with the default
 * {@code synchronous_commit=on}. Each commit sends a {@code NOTIFY}, so followers connected to
 * any instance hear of every commit at once.
 */
final class PostgresLogStore implements LogStore {
  private static final Logger LOG = Logger.getLogger(PostgresLogStore.class);
  private static final long LOCK = 0x7461736b73L; // "tasks"
  private static final String CHANNEL = "tasks_log";

  private final String url;
  private final Connection writer;
  private final Connection reader;
  private volatile boolean closed;
  private Thread listener;

  PostgresLogStore(String url) throws SQLException {
    this.url = url;
    writer = DriverManager.getConnection(url);
    try (Statement s = writer.createStatement()) {
      s.execute("""
          CREATE TABLE IF NOT EXISTS log (
            seq BIGINT PRIMARY KEY,
            command_id TEXT NOT NULL UNIQUE,
            type TEXT NOT NULL,
            board TEXT NOT NULL,
            task TEXT NOT NULL,
            title TEXT,
            before_task TEXT,
            at BIGINT NOT NULL)""");
    }
    writer.setAutoCommit(false);
    reader = DriverManager.getConnection(url);
  }

  @Override
  public long head() throws SQLException {
    synchronized (reader) {
      try (Statement s = reader.createStatement(); ResultSet r = s.executeQuery("SELECT COALESCE(MAX(seq), 0) FROM log")) {
        r.next();
        return r.getLong(1);
      }
    }
  }

  @Override
  public long write(long knownHead, Consumer<Entry> catchUp, Supplier<List<Change>> decide) throws Exception {
    try {
      try (PreparedStatement lock = writer.prepareStatement("SELECT pg_advisory_xact_lock(?)")) {
        lock.setLong(1, LOCK);
        lock.execute();
      }
      long seq = knownHead;
      try (PreparedStatement ps = writer.prepareStatement(
          "SELECT seq, command_id, type, board, task, title, before_task, at FROM log WHERE seq > ? ORDER BY seq")) {
        ps.setLong(1, knownHead);
        try (ResultSet r = ps.executeQuery()) {
          while (r.next()) {
            Entry e = SqliteLogStore.entry(r);
            catchUp.accept(e);
            seq = e.seq();
          }
        }
      }
      List<Change> changes = decide.get();
      if (!changes.isEmpty()) {
        try (PreparedStatement ps = writer.prepareStatement(
            "INSERT INTO log (seq, command_id, type, board, task, title, before_task, at) VALUES (?,?,?,?,?,?,?,?)")) {
          for (Change c : changes) {
            SqliteLogStore.bind(ps, ++seq, c);
            ps.addBatch();
          }
          ps.executeBatch();
        }
        try (PreparedStatement n = writer.prepareStatement("SELECT pg_notify(?, ?)")) {
          n.setString(1, CHANNEL);
          n.setString(2, Long.toString(seq));
          n.execute();
        }
      }
      writer.commit();
      return seq;
    } catch (Exception e) {
      writer.rollback();
      throw e;
    }
  }

  @Override
  public List<Entry> read(long after, int limit) throws Exception {
    synchronized (reader) {
      return LogStore.readPage(reader, after, limit);
    }
  }

  @Override
  public void watch(LongConsumer onHead) {
    listener = new Thread(() -> {
      while (!closed) {
        try (Connection c = DriverManager.getConnection(url); Statement s = c.createStatement()) {
          s.execute("LISTEN " + CHANNEL);
          onHead.accept(headOn(c)); // commits made while we were not listening
          PGConnection pg = c.unwrap(PGConnection.class);
          while (!closed) {
            PGNotification[] ns = pg.getNotifications(1_000);
            long max = -1;
            if (ns != null) {
              for (PGNotification n : ns) {
                max = Math.max(max, Long.parseLong(n.getParameter()));
              }
            }
            if (max >= 0) {
              onHead.accept(max);
            }
          }
        } catch (Exception e) {
          if (!closed) {
            LOG.warnf("tasks log listener: %s; retrying", e.getMessage());
            try {
              Thread.sleep(1_000);
            } catch (InterruptedException ie) {
              return;
            }
          }
        }
      }
    }, "tasks-log-listener");
    listener.setDaemon(true);
    listener.start();
  }

  private static long headOn(Connection c) throws SQLException {
    try (Statement s = c.createStatement(); ResultSet r = s.executeQuery("SELECT COALESCE(MAX(seq), 0) FROM log")) {
      r.next();
      return r.getLong(1);
    }
  }

  @Override
  public void close() {
    closed = true;
    try {
      writer.close();
      reader.close();
    } catch (SQLException e) {
      // shutting down
    }
  }
}
