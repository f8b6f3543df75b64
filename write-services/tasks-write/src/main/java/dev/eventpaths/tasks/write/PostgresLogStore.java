package dev.eventpaths.tasks.write;

import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.List;
import java.util.Map;
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

  /**
   * Connection settings used unless the URL gives its own (pgjdbc lets the URL's parameters
   * win over these): a database that stops answering (a network partition, a failover) must
   * fail a statement within a bounded time, so the writer answers its commands
   * {@code store_failed} and reconnects instead of holding them.
   */
  static final java.util.Properties DEFAULTS = new java.util.Properties();

  static {
    DEFAULTS.putAll(Map.of(
        "connectTimeout", "10", "socketTimeout", "30", "tcpKeepAlive", "true", "ApplicationName", "tasks-write"));
  }

  private static final long QUIET_CHECK_NANOS = java.util.concurrent.TimeUnit.SECONDS.toNanos(10);

  private final String url;
  private final String where;
  /** The writer thread's connection; null after a failure, made again by the next write. */
  private Connection writer;
  /** For followers' reads, guarded by {@code readLock}; null after a failure. */
  private Connection reader;
  private final Object readLock = new Object();
  private volatile boolean closed;
  private Thread listener;

  PostgresLogStore(String url) throws SQLException {
    this.url = url;
    int query = url.indexOf('?');
    this.where = "in PostgreSQL at " + (query < 0 ? url : url.substring(0, query)).replaceFirst("^jdbc:postgresql://", "");
    // Instances start together (Fly starts an app's Machines at once) and PostgreSQL's
    // CREATE TABLE IF NOT EXISTS races with itself: two sessions both find no table and the
    // second fails on the catalog's unique index. The writers' advisory lock makes it one at a time.
    try (Connection c = connect(); Statement s = c.createStatement()) {
      c.setAutoCommit(false);
      s.execute("SELECT pg_advisory_xact_lock(" + LOCK + ")");
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
      c.commit();
    }
  }

  private Connection connect() throws SQLException {
    return DriverManager.getConnection(url, DEFAULTS);
  }

  @Override
  public String describe() {
    return where;
  }

  private Connection writer() throws SQLException {
    if (writer == null) {
      writer = connect();
      writer.setAutoCommit(false);
    }
    return writer;
  }

  /** Drops a connection that failed, unless it still answers (then the failure was the statement's). */
  private static Connection dropIfBroken(Connection c) {
    try {
      if (c != null && c.isValid(2)) {
        return c;
      }
    } catch (SQLException e) {
      // broken
    }
    try {
      if (c != null) {
        c.close();
      }
    } catch (SQLException e) {
      // already gone
    }
    return null;
  }

  @Override
  public long head() throws SQLException {
    return reading(PostgresLogStore::headOn);
  }

  private interface Read<T> {
    T on(Connection c) throws SQLException;
  }

  /** Runs a read on the reader connection, making it again (once) when it has broken. */
  private <T> T reading(Read<T> read) throws SQLException {
    synchronized (readLock) {
      for (int attempt = 0; ; attempt++) {
        try {
          if (reader == null) {
            reader = connect();
          }
          return read.on(reader);
        } catch (SQLException e) {
          reader = dropIfBroken(reader);
          if (reader != null || attempt > 0) {
            throw e;
          }
        }
      }
    }
  }

  @Override
  public long write(long knownHead, Consumer<Entry> catchUp, Supplier<List<Change>> decide) throws Exception {
    Connection writer = writer();
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
      try {
        writer.rollback();
      } catch (SQLException rollbackFailed) {
        e.addSuppressed(rollbackFailed);
      }
      this.writer = dropIfBroken(writer);
      throw e;
    }
  }

  @Override
  public List<Entry> read(long after, int limit) throws Exception {
    return reading(c -> LogStore.readPage(c, after, limit));
  }

  @Override
  public void watch(LongConsumer onHead) {
    listener = new Thread(() -> {
      while (!closed) {
        try (Connection c = connect(); Statement s = c.createStatement()) {
          s.execute("LISTEN " + CHANNEL);
          onHead.accept(headOn(c)); // commits made while we were not listening
          PGConnection pg = c.unwrap(PGConnection.class);
          long quietSince = System.nanoTime();
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
              quietSince = System.nanoTime();
            } else if (System.nanoTime() - quietSince > QUIET_CHECK_NANOS) {
              // A connection cut without a word delivers no notifications and no error: ask
              // for the head now and then (it fails within socketTimeout on a dead connection,
              // and catches up on anything missed).
              onHead.accept(headOn(c));
              quietSince = System.nanoTime();
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
    for (Connection c : new Connection[] {writer, reader}) {
      try {
        if (c != null) {
          c.close();
        }
      } catch (SQLException e) {
        // shutting down
      }
    }
  }
}
