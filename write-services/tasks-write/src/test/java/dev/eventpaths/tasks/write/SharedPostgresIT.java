package dev.eventpaths.tasks.write;

import static dev.eventpaths.tasks.write.Peers.command;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.eventpaths.Event;
import dev.eventpaths.LinkRequest;
import dev.eventpaths.internal.LinkClient;
import dev.eventpaths.testing.AppProcess;
import io.smallrye.mutiny.Multi;
import io.smallrye.mutiny.Uni;
import io.smallrye.mutiny.helpers.test.AssertSubscriber;
import io.vertx.core.Vertx;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Two packaged tasks-write instances on one real PostgreSQL server (Debian's, started for the
 * test): commands to either are applied once, in one log; followers of either see all of it.
 */
class SharedPostgresIT {
  static final Path JAR = Path.of("target/quarkus-app/quarkus-run.jar");
  static final String SECRET = "it-secret-pg";
  static String pgDir;
  static String pgUrl;
  static Vertx vertx;

  @BeforeAll
  static void startPostgres() throws Exception {
    Process p = new ProcessBuilder("bash", "../../.ci/pg-start.sh").redirectErrorStream(true).start();
    List<String> lines = new String(p.getInputStream().readAllBytes()).lines().toList();
    if (p.waitFor() != 0) {
      throw new IllegalStateException("PostgreSQL did not start: " + lines);
    }
    pgDir = lines.get(lines.size() - 2).substring("PGDIR=".length());
    pgUrl = lines.get(lines.size() - 1);
    vertx = Vertx.vertx();
    // Mutiny's context propagation initializes lazily and races when two threads start it
    // at once (outside Quarkus): start it here.
    Multi.createFrom().empty().onCompletion().call(() -> Uni.createFrom().nullItem());
  }

  @AfterAll
  static void stopPostgres() throws Exception {
    vertx.close();
    if (pgDir != null) {
      new ProcessBuilder("bash", "../../.ci/pg-stop.sh", pgDir).inheritIO().start().waitFor();
    }
  }

  static AppProcess instance() throws Exception {
    return AppProcess.start(JAR, AppProcess.freePort(), Map.of("EVENTPATHS_LINK_SECRET", SECRET,
        "TASKS_STORE", "postgres", "TASKS_POSTGRES_URL", pgUrl));
  }

  static Map<String, Event> send(LinkClient client, List<Event> cmds) {
    AssertSubscriber<Event> s = client.open(LinkRequest.to("tasks", "tasks-write"),
        Multi.createFrom().iterable(cmds).onCompletion().call(() -> Uni.createFrom().nothing()))
        .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
    s.awaitItems(cmds.size() + 1, Duration.ofSeconds(60));
    s.cancel();
    Map<String, Event> byId = new HashMap<>();
    s.getItems().stream().filter(e -> !e.isControl()).forEach(e -> byId.put(e.id(), e));
    return byId;
  }

  static List<Event> log(LinkClient client, int expected) {
    AssertSubscriber<Event> s = client.open(LinkRequest.to("tasks", "log"), Multi.createFrom().nothing())
        .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
    s.awaitItems(expected + 2, Duration.ofSeconds(30)); // + link.ready and log.live
    s.cancel();
    return s.getItems().stream().filter(e -> e.type().startsWith("task.")).toList();
  }

  /**
   * Sends {@code cmds} as a guest does: what comes back {@code store_failed} (a non-fatal
   * link.error naming the command) is sent again, until every command is acknowledged.
   */
  static Map<String, Event> sendUntilAcked(LinkClient client, List<Event> cmds, Duration within) {
    long deadline = System.nanoTime() + within.toNanos();
    Map<String, Event> acked = new HashMap<>();
    List<Event> remaining = cmds;
    int rounds = 0;
    while (!remaining.isEmpty()) {
      if (System.nanoTime() > deadline) {
        throw new AssertionError(remaining.size() + " commands not acknowledged after " + rounds + " sends");
      }
      acked.putAll(send(client, remaining));
      remaining = remaining.stream().filter(c -> !acked.containsKey(c.id())).toList();
      rounds++;
    }
    return acked;
  }

  @Test
  void aWriterWhoseDatabaseConnectionsAreCutAnswersEveryCommandThenReconnects() throws Exception {
    // A database of its own: the other test counts every entry of the shared one.
    try (java.sql.Connection admin = java.sql.DriverManager.getConnection(pgUrl);
        java.sql.Statement s = admin.createStatement()) {
      s.execute("DROP DATABASE IF EXISTS cut");
      s.execute("CREATE DATABASE cut");
    }
    String cutUrl = pgUrl.replaceFirst("/tasks\\?", "/cut?");
    assertTrue(cutUrl.contains("/cut?"), cutUrl);
    try (AppProcess a = AppProcess.start(JAR, AppProcess.freePort(), Map.of("EVENTPATHS_LINK_SECRET", SECRET,
            "TASKS_STORE", "postgres", "TASKS_POSTGRES_URL", cutUrl));
        LinkClient toA = Peers.client(vertx, a.url(), SECRET)) {
      String run = Long.toHexString(System.nanoTime());
      List<Event> before = new ArrayList<>();
      List<Event> after = new ArrayList<>();
      for (int i = 0; i < 20; i++) {
        before.add(command("task.add", "cut-" + run + "-a" + i, "cut-" + run, "a" + i, "title", "before " + i));
        after.add(command("task.add", "cut-" + run + "-b" + i, "cut-" + run, "b" + i, "title", "after " + i));
      }
      sendUntilAcked(toA, before, Duration.ofSeconds(30));
      // A follower that was live before the cut.
      AssertSubscriber<Event> follower = toA.open(LinkRequest.to("tasks", "log"), Multi.createFrom().nothing())
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));

      // The server ends every connection tasks-write holds (what a failover or a restart does).
      int cut;
      try (java.sql.Connection admin = java.sql.DriverManager.getConnection(pgUrl);
          java.sql.Statement s = admin.createStatement();
          java.sql.ResultSet r = s.executeQuery(
              "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'cut'")) {
        r.next();
        cut = r.getInt(1);
      }
      assertTrue(cut >= 3, "tasks-write's writer, reader and listener connections were cut (" + cut + ")");

      // Every command is answered (an ack, or store_failed and then an ack when sent again).
      Map<String, Event> acks = sendUntilAcked(toA, after, Duration.ofSeconds(60));
      assertEquals(20, acks.size());

      // In the log once each, and the follower from before the cut sees them all.
      List<Event> all = log(toA, 40).stream().filter(e -> e.id().startsWith("cut-" + run)).toList();
      assertEquals(40, all.size(), "each command once");
      for (Event e : after) {
        long seq = acks.get(e.id()).data().tree().get("seq").asLong();
        assertEquals(seq, all.stream().filter(x -> x.id().equals(e.id())).findFirst().orElseThrow().seq(),
            e.id() + ": its ack names its place in the log");
      }
      follower.awaitItems(2 + 40, Duration.ofSeconds(30)); // link.ready, log.live and the 40
      follower.cancel();
    }
  }

  /**
   * Fly starts an app's instances together: on a fresh database they all create the schema at
   * once. PostgreSQL's {@code CREATE TABLE IF NOT EXISTS} is not safe against itself (two
   * sessions can both find no table, and one then fails on the catalog's unique index), so
   * every instance must start anyway. Eight stores at once, on a fresh database each round.
   */
  @Test
  void instancesStartingAtOnceOnAFreshDatabaseAllStart() throws Exception {
    int stores = 8;
    java.util.concurrent.ExecutorService pool = java.util.concurrent.Executors.newFixedThreadPool(stores);
    try {
      for (int round = 0; round < 10; round++) {
        String db = "fresh" + round;
        try (java.sql.Connection admin = java.sql.DriverManager.getConnection(pgUrl);
            java.sql.Statement s = admin.createStatement()) {
          s.execute("DROP DATABASE IF EXISTS " + db);
          s.execute("CREATE DATABASE " + db);
        }
        String url = pgUrl.replaceFirst("/tasks\\?", "/" + db + "?");
        java.util.concurrent.CyclicBarrier together = new java.util.concurrent.CyclicBarrier(stores);
        List<java.util.concurrent.Future<Long>> heads = new ArrayList<>();
        for (int i = 0; i < stores; i++) {
          heads.add(pool.submit(() -> {
            together.await();
            try (PostgresLogStore store = new PostgresLogStore(url)) {
              return store.head();
            }
          }));
        }
        for (var head : heads) {
          try {
            assertEquals(0L, head.get(60, java.util.concurrent.TimeUnit.SECONDS), "an empty log");
          } catch (java.util.concurrent.ExecutionException e) {
            throw new AssertionError("round " + round + ": a store failed to start", e.getCause());
          }
        }
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void twoInstancesShareOneLogAndApplyEachCommandOnce() throws Exception {
    try (AppProcess a = instance(); AppProcess b = instance();
        LinkClient toA = Peers.client(vertx, a.url(), SECRET);
        LinkClient toB = Peers.client(vertx, b.url(), SECRET)) {
      // A follower on A, live, before anything is written.
      AssertSubscriber<Event> followerOnA = toA.open(LinkRequest.to("tasks", "log"), Multi.createFrom().nothing())
          .subscribe().withSubscriber(AssertSubscriber.create(Long.MAX_VALUE));
      List<Event> toFirst = new ArrayList<>();
      List<Event> toSecond = new ArrayList<>();
      for (int i = 0; i < 300; i++) {
        Event add = command("task.add", "pg-" + i, "shared", "t" + i, "title", "task " + i);
        (i % 2 == 0 ? toFirst : toSecond).add(add);
        if (i % 10 == 0) {
          (i % 2 == 0 ? toSecond : toFirst).add(add); // the same command to the other instance too
        }
      }
      Map<String, Event>[] answers = new Map[2];
      Throwable[] failed = new Throwable[1];
      Thread t = new Thread(() -> {
        try {
          answers[1] = send(toB, toSecond);
        } catch (Throwable e) {
          failed[0] = e;
        }
      });
      t.start();
      answers[0] = send(toA, toFirst);
      t.join();
      if (failed[0] != null) {
        throw new AssertionError("instance B", failed[0]);
      }
      Map<String, Long> seqs = new HashMap<>();
      for (var m : answers) {
        m.forEach((id, e) -> {
          assertEquals("ack", e.type(), e.toString());
          Long seq = e.data().tree().get("seq").asLong();
          Long other = seqs.putIfAbsent(id, seq);
          assertTrue(other == null || other.equals(seq), "both instances give the same position for " + id);
        });
      }
      assertEquals(300, seqs.size());
      List<Event> logA = log(toA, 300);
      List<Event> logB = log(toB, 300);
      assertEquals(300, logA.size(), "each command once");
      assertEquals(logA.stream().map(Event::id).toList(), logB.stream().map(Event::id).toList(), "one log");
      followerOnA.awaitItems(302, Duration.ofSeconds(20));
      followerOnA.cancel();

      // One instance killed mid-command: the guest's retry to the other is applied once.
      Event late = command("task.rename", "pg-late", "shared", "t1", "title", "renamed");
      a.kill();
      Map<String, Event> retried = send(toB, List.of(late, late));
      assertEquals("ack", retried.get("pg-late").type());
      assertEquals(301, log(toB, 301).size());
    }
  }
}
