package dev.eventpaths.tasks.write;

import dev.eventpaths.Event;
import dev.eventpaths.Json;
import dev.eventpaths.LinkContext;
import dev.eventpaths.internal.LinkLog;
import io.micrometer.core.instrument.Counter;
import io.micrometer.core.instrument.DistributionSummary;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.Timer;
import io.quarkus.runtime.ShutdownEvent;
import io.quarkus.runtime.StartupEvent;
import io.smallrye.mutiny.Multi;
import jakarta.enterprise.context.ApplicationScoped;
import jakarta.enterprise.event.Observes;
import jakarta.inject.Inject;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.jboss.logging.Logger;

/**
 * The command log: validates commands, appends their changes durably with group commit, and
 * acknowledges each only after its commit; and lets followers read the log, catch-up then live.
 *
 * <p>One writer thread owns the store's write side and the validation state. It takes every
 * queued command (up to {@code tasks.max-batch}), validates them in order, appends the
 * accepted changes in one transaction, and completes their answers after the commit.
 */
@ApplicationScoped
public class CommandLog {
  private static final Logger LOG = Logger.getLogger(CommandLog.class);
  /** Failed commands: a guest resending a poison command gets its lines budgeted. */
  private static final LinkLog FAILURES = new LinkLog(LOG);

  @Inject TasksConfig config;
  @Inject MeterRegistry registry;

  private LogStore store;
  private Boards boards = new Boards();
  /** command id -> log position, for every command ever applied: a retry gets the same ack. */
  private final Map<String, Long> applied = new ConcurrentHashMap<>();
  private BlockingQueue<Pending> queue;
  private Thread writer;
  private volatile boolean running;
  private volatile long head;
  /** The last position this instance's validation state includes (writer thread only). */
  private long appliedHead;
  /** The validation state must be rebuilt from the store before the next batch (writer thread only). */
  private boolean stale;
  private static final long STALE_RETRY_MILLIS = 500;
  private final List<CompletableFuture<Void>> waiters = new ArrayList<>();
  private final ExecutorService readers = Executors.newFixedThreadPool(2, r -> {
    Thread t = new Thread(r, "tasks-log-reader");
    t.setDaemon(true);
    return t;
  });
  private Counter commits;
  private Counter failures;
  private DistributionSummary perCommit;
  private Timer ackLatency;

  private record Pending(Event command, CompletableFuture<Event> answer, long queuedAt) {}

  void start(@Observes StartupEvent e) throws Exception {
    store = switch (config.store()) {
      case "sqlite" -> new SqliteLogStore(Path.of(config.dataDir()));
      case "postgres" -> new PostgresLogStore(config.postgres().url().orElseThrow(() -> new IllegalStateException(
          "tasks.store=postgres needs tasks.postgres.url (TASKS_POSTGRES_URL), e.g. jdbc:postgresql://host/db?user=u&password=p")));
      default -> throw new IllegalStateException("tasks.store must be sqlite or postgres, not " + config.store());
    };
    store.replay(entry -> {
      boards.apply(entry.change());
      applied.put(entry.change().commandId(), entry.seq());
      appliedHead = entry.seq();
    });
    head = appliedHead;
    // Other instances sharing the store commit too: followers here must hear of it.
    store.watch(this::headMoved);
    queue = new ArrayBlockingQueue<>(config.queue());
    commits = Counter.builder("tasks.commits").description("transactions committed").register(registry);
    failures = Counter.builder("tasks.append.failures").description("write transactions that failed (commands answered store_failed)")
        .register(registry);
    perCommit = DistributionSummary.builder("tasks.commands.per.commit").description("group commit size")
        .register(registry);
    ackLatency = Timer.builder("tasks.ack.latency").description("from command received to ack").register(registry);
    registry.gauge("tasks.log.head", this, c -> c.head);
    running = true;
    writer = new Thread(this::writeLoop, "tasks-writer");
    writer.start();
    LOG.infof("tasks-write: log %s, %d changes, %d boards", store.describe(), head, boards.boards());
  }

  void stop(@Observes ShutdownEvent e) throws InterruptedException {
    running = false;
    if (writer != null) {
      writer.interrupt();
      writer.join(5_000);
    }
    if (store != null) {
      store.close();
    }
    readers.shutdownNow();
  }

  /** The last log position. */
  public long head() {
    return head;
  }

  /**
   * Queues a command. The answer is an {@code ack} once its change is durable (or at once for
   * a command applied before), a {@code command.rejected}, or, when the writer cannot take it
   * now, a non-fatal {@code link.error} (not an ack: the guest sends it again later).
   */
  public CompletableFuture<Event> submit(Event command) {
    CompletableFuture<Event> answer = new CompletableFuture<>();
    if (command.id() != null) {
      Long seq = applied.get(command.id());
      if (seq != null) {
        answer.complete(ack(command.id(), seq));
        return answer;
      }
    }
    if (!running || !queue.offer(new Pending(command, answer, System.nanoTime()))) {
      answer.complete(Event.error("overloaded", "the writer is busy; send the command again later", false, command.id()));
    }
    return answer;
  }

  private void writeLoop() {
    List<Pending> batch = new ArrayList<>();
    while (running) {
      try {
        batch.clear();
        batch.add(queue.take());
        queue.drainTo(batch, config.maxBatch() - 1);
        if (stale && !rebuild()) {
          // The store is unreachable: answer now (the guests send again) rather than hold
          // commands, and look again after a pause.
          failBatch(batch);
          Thread.sleep(STALE_RETRY_MILLIS);
          continue;
        }
        commit(batch);
      } catch (InterruptedException e) {
        failBatch(batch);
        return;
      } catch (RuntimeException e) {
        LOG.errorf(e, "writer failed on a batch; %d commands answered store_failed", failBatch(batch));
        stale = true;
      }
    }
  }

  /**
   * Answers every command of the batch not answered yet with a non-fatal {@code store_failed}
   * naming it: a command left unanswered would wait on its link for ever, neither acknowledged
   * nor refused. Returns how many it answered.
   */
  private static int failBatch(List<Pending> batch) {
    int answered = 0;
    for (Pending p : batch) {
      if (p.answer().complete(Event.error("store_failed", "the change was not saved; send it again", false,
          p.command().id()))) {
        answered++;
      }
    }
    return answered;
  }

  private void commit(List<Pending> batch) {
    long now = System.currentTimeMillis();
    List<Change> changes = new ArrayList<>();
    List<Pending> accepted = new ArrayList<>();
    Map<String, List<Pending>> repeats = new HashMap<>();
    long last;
    try {
      last = store.write(appliedHead, entry -> {
        // Appended by another instance since we last looked: know it before validating.
        boards.apply(entry.change());
        applied.put(entry.change().commandId(), entry.seq());
        appliedHead = entry.seq();
      }, () -> {
        decide(batch, now, changes, accepted, repeats);
        return changes;
      });
    } catch (Exception e) {
      // Whether it failed before validation (the lock, the catch-up) or after, every command
      // of the batch is answered; the writer loop rebuilds the tentative state before the next.
      failures.increment();
      LOG.errorf(e, "append failed; %d commands answered store_failed (the guest sends them again)", failBatch(batch));
      stale = true;
      return;
    }
    if (!changes.isEmpty()) {
      commits.increment();
      perCommit.record(changes.size());
    }
    long seq = last - changes.size();
    long nowNanos = System.nanoTime();
    for (Pending p : accepted) {
      seq++;
      String id = p.command().id();
      applied.put(id, seq);
      p.answer().complete(ack(id, seq));
      ackLatency.record(nowNanos - p.queuedAt(), TimeUnit.NANOSECONDS);
      for (Pending again : repeats.getOrDefault(id, List.of())) {
        again.answer().complete(ack(id, seq));
      }
    }
    appliedHead = last;
    headMoved(last);
  }

  /** Validates a batch in order (inside the store's transaction, after catching up). */
  private void decide(List<Pending> batch, long now, List<Change> changes, List<Pending> accepted,
      Map<String, List<Pending>> repeats) {
    Map<String, Pending> inBatch = new HashMap<>();
    for (Pending p : batch) {
      String id = p.command().id();
      Long seq = id == null ? null : applied.get(id);
      if (seq != null) {
        p.answer().complete(ack(id, seq)); // applied before (maybe by another instance)
        continue;
      }
      if (id != null && inBatch.containsKey(id)) {
        repeats.computeIfAbsent(id, k -> new ArrayList<>()).add(p); // same command twice in one batch
        continue;
      }
      try {
        Change c = decideOne(p.command(), now);
        changes.add(c);
        accepted.add(p);
        inBatch.put(id, p);
      } catch (Rejection r) {
        p.answer().complete(rejected(id, r));
      } catch (RuntimeException e) {
        // A bug met by this one command: it is answered (rejected, see failed()), the rest
        // of the batch goes on; the tentative state may be half changed, so it is rebuilt.
        p.answer().completeExceptionally(e);
        stale = true;
      }
    }
  }

  /** One command's change, applied tentatively (later commands in its batch see it). */
  Change decideOne(Event command, long now) throws Rejection {
    Change c = boards.validate(command, now);
    boards.apply(c);
    return c;
  }

  /** The log grew to {@code newHead} (here or in another instance): wake the followers. */
  private void headMoved(long newHead) {
    List<CompletableFuture<Void>> wake;
    synchronized (waiters) {
      if (newHead <= head) {
        return;
      }
      head = newHead;
      wake = new ArrayList<>(waiters);
      waiters.clear();
    }
    wake.forEach(w -> w.complete(null));
  }

  /**
   * After a failed append the tentative state is wrong: rebuild it from what is durable. When
   * the store cannot be read now, the state stays stale and the writer tries again before its
   * next batch.
   */
  private boolean rebuild() {
    Boards fresh = new Boards();
    long[] last = {0};
    try {
      store.replay(entry -> {
        fresh.apply(entry.change());
        applied.put(entry.change().commandId(), entry.seq());
        last[0] = entry.seq();
      });
      boards = fresh;
      appliedHead = last[0];
      stale = false;
      return true;
    } catch (Exception e) {
      LOG.warnf("cannot re-read the log (%s); commands are answered store_failed until it can", e.getMessage());
      return false;
    }
  }

  /**
   * The log after {@code after}: catch-up, then live, without end. Pages are read only when
   * the subscriber has demand, so a follower that stops reading stops the reads.
   */
  public Multi<Event> follow(long after) {
    AtomicLong cursor = new AtomicLong(after);
    long headAtStart = head;
    java.util.concurrent.atomic.AtomicBoolean live = new java.util.concurrent.atomic.AtomicBoolean(after >= headAtStart);
    Multi<Event> pages = Multi.createBy().repeating()
        .completionStage(() -> awaitHead(cursor.get()).thenApplyAsync(v -> page(cursor, headAtStart, live), readers))
        .indefinitely()
        .onItem().transformToIterable(list -> list);
    // A follower already at the head hears so at once: the catch-up is over.
    return after >= headAtStart ? Multi.createBy().concatenating().streams(Multi.createFrom().item(liveEvent(headAtStart)), pages)
        : pages;
  }

  /** {@code log.live}: the catch-up has reached the head as it was when the follower came. */
  private static Event liveEvent(long headNow) {
    return new Event("log.live", null, 0, Json.of(Map.of("head", headNow)));
  }

  private List<Event> page(AtomicLong cursor, long catchUpTo, java.util.concurrent.atomic.AtomicBoolean live) {
    try {
      List<LogStore.Entry> entries = store.read(cursor.get(), 512);
      List<Event> out = new ArrayList<>(entries.size() + 1);
      for (LogStore.Entry e : entries) {
        out.add(toEvent(e));
        cursor.set(e.seq());
      }
      if (!live.get() && cursor.get() >= catchUpTo) {
        live.set(true);
        out.add(liveEvent(cursor.get()));
      }
      return out;
    } catch (Exception e) {
      throw new IllegalStateException("cannot read the log: " + e.getMessage(), e);
    }
  }

  private CompletableFuture<Void> awaitHead(long after) {
    if (head > after) {
      return CompletableFuture.completedFuture(null);
    }
    CompletableFuture<Void> f = new CompletableFuture<>();
    synchronized (waiters) {
      waiters.add(f);
    }
    if (head > after) { // a commit may have happened between the check and the registration
      f.complete(null);
    }
    return f;
  }

  static Event toEvent(LogStore.Entry e) {
    Change c = e.change();
    Map<String, Object> data = new LinkedHashMap<>();
    data.put("board", c.board());
    data.put("task", c.task());
    if (c.title() != null) {
      data.put("title", c.title());
    }
    if (c.type().equals("task.added") || c.type().equals("task.moved")) {
      data.put("before", c.before());
    }
    data.put("at", c.at());
    return new Event(c.type(), c.commandId(), e.seq(), Json.of(data));
  }

  private static Event ack(String id, long seq) {
    return new Event("ack", id, 0, Json.of(Map.of("ack", id, "seq", seq)));
  }

  /**
   * The answer to a command whose processing failed: rejected with reason {@code failed} and
   * a ref, which the log line (with the stack trace) has too; the guest is not told why.
   */
  static Event failed(Event command, Throwable t, LinkContext link) {
    String ref = LinkLog.newRef();
    FAILURES.log(Logger.Level.ERROR, "command failed", t, "command " + LinkLog.quote(String.valueOf(command.id())) + " ("
        + command.type() + ") failed, rejected as failed [ref " + ref + "] (" + LinkLog.describe(link) + ")");
    Map<String, Object> data = new LinkedHashMap<>();
    if (command.id() != null) {
      data.put("ack", command.id());
    }
    data.put("reason", "failed");
    data.put("message", "the command could not be processed (ref " + ref + ")");
    data.put("ref", ref);
    return new Event("command.rejected", command.id(), 0, Json.of(data));
  }

  private static Event rejected(String id, Rejection r) {
    Map<String, Object> data = new LinkedHashMap<>();
    if (id != null) {
      data.put("ack", id);
    }
    data.put("reason", r.reason());
    data.put("message", r.getMessage());
    return new Event("command.rejected", id, 0, Json.of(data));
  }
}
