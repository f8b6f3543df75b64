package dev.eventpaths.internal;

import dev.eventpaths.Event;
import dev.eventpaths.EventEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.http.HttpServerResponse;
import io.vertx.core.streams.WriteStream;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Writes a stream of events to one HTTP/2 stream, with demand tied to the network.
 *
 * <p>Demand: events are requested in batches of at most {@code batch} events and about
 * {@link #DEMAND_BYTES} by the size of the events so far, and only while the
 * stream can send: a write goes to the network only while HTTP/2 flow control would send on
 * this stream (Netty's word, see {@link StreamWritability}, besides Vert.x's
 * {@code writeQueueFull()}). When it cannot, the writer stops requesting and waits; so what a
 * stalled stream holds here is one batch (encoded, not written: {@code DEMAND_BYTES} and an
 * event, or a batch of events that were small when they were asked for) and one write (at most
 * {@link #FLUSH_BYTES} and an event) queued in Netty beyond what the peer's window let out.
 *
 * <p>Coalescing: events are encoded into one buffer, which is written when it reaches
 * {@link #FLUSH_BYTES} or at the end of the current event-loop task. A producer that emits
 * synchronously (most Mutiny pipelines) thus gets one write per batch, not one per event.
 *
 * <p>Threading: {@code onNext} may come from any thread; everything else happens on
 * {@code context}. Events from other threads are handed over through a queue bounded by the
 * outstanding demand.
 */
public final class OutboundWriter implements Flow.Subscriber<Event> {
  /** Flush once this many bytes are pending (one HTTP/2 frame's worth). */
  static final int FLUSH_BYTES = 16 * 1024;
  /**
   * Write at most this much for one link in one event-loop task, then let the loop run. A
   * producer that emits synchronously would otherwise write for as long as the network takes
   * it, inside one task: the links sharing the event loop (and the reads that would update
   * flow control) wait for it, so one busy link could starve the others on its connection.
   */
  static final int YIELD_BYTES = 64 * 1024;
  /**
   * The bytes of events one request asks for, at most: a batch is {@code batch} events or this
   * many bytes by the size of the events seen, whichever is fewer. A writer that pauses holds
   * what it asked for, so a count alone let a stalled link with large events hold a batch of
   * them (64 events of 1 KB at the gateway: 64 KB a link besides its windows).
   */
  static final int DEMAND_BYTES = 32 * 1024;
  /**
   * While paused on Netty's word, the longest wait between looks at the stream's window when
   * no read notice comes (a safety net: the notice after each read is what resumes a link).
   */
  static final long POLL_MAX_MILLIS = 50;
  /**
   * A stream paused on Vert.x's word waits for Vert.x's drain notice, and besides looks at
   * Netty's window this many times less often than {@link #POLL_MAX_MILLIS} (once a second): a
   * safety net against a lost notice, cheap enough for thousands of paused links.
   */
  static final long STALE_POLL_FACTOR = 20;

  /** What the owning link hears about the output. */
  public interface Listener {
    /** The producer completed; everything has been written. */
    void completed();

    /** The producer failed; everything before the failure has been written. */
    void failed(Throwable t);

    /** A buffer of events went out (for metrics). */
    void wrote(int events, int bytes);

    /** The writer waited this long for the network to drain (for metrics). */
    void paused(long nanos);
  }

  private final Context context;
  private final WriteStream<Buffer> sink;
  private final int batch;
  private final Listener listener;
  private final StreamWritability network;
  private final long pollMaxMillis;
  private long pollTimer = -1;
  /** A wake-up after the connection's next read is registered (at most one at a time). */
  private boolean awaitingRead;
  private final Queue<Object> handoff = new ConcurrentLinkedQueue<>();
  private final AtomicBoolean handoffScheduled = new AtomicBoolean();
  private Flow.Subscription upstream;
  private long outstanding;
  /** Events encoded and not yet written; empty (no memory) while nothing is pending. */
  private ByteBuf pending = Unpooled.EMPTY_BUFFER;
  /** Capacity for the next buffer: what the last write needed, so a busy link rarely grows one. */
  private int nextCapacity = 1024;
  private int pendingEvents;
  /**
   * Bytes an encoded event takes, as far as this writer has seen: it follows a larger event at
   * once and a smaller one slowly, so demand shrinks as soon as events grow. It starts large
   * (the first request asks for 4 events): small events bring it down within some 30 events.
   */
  private int eventBytes;
  private final int demandBytes;
  private boolean flushScheduled;
  private int writtenThisTurn;
  private boolean turnScheduled;
  private boolean writable = true;
  private long pausedSince;
  private boolean terminated;
  private boolean terminalPending;
  private Throwable terminalFailure;
  private volatile boolean cancelled;
  private volatile long lastWriteNanos = System.nanoTime();

  /**
   * A writer for the body of {@code request}'s response: the stream a link's server (or the
   * gateway, for a guest's download) answers on, bounded by that stream's window.
   */
  public static OutboundWriter forResponse(Context context, HttpServerRequest request, int batch, Listener listener) {
    HttpServerResponse response = request.response();
    return new OutboundWriter(context, response, batch, listener,
        StreamWritability.of(request.connection(), response::streamId));
  }

  /**
   * @param network whether the transport can send on this stream now, asked besides
   *     {@code sink.writeQueueFull()}, and when to look again (see {@link StreamWritability})
   */
  OutboundWriter(Context context, WriteStream<Buffer> sink, int batch, Listener listener, StreamWritability network) {
    this(context, sink, batch, listener, network, POLL_MAX_MILLIS);
  }

  /**
   * @param pollMaxMillis the longest wait between looks at a stream paused on Netty's word
   *     (tests raise it); a stream paused on Vert.x's word is looked at every
   *     {@link #STALE_POLL_FACTOR} times that
   */
  OutboundWriter(Context context, WriteStream<Buffer> sink, int batch, Listener listener, StreamWritability network,
      long pollMaxMillis) {
    this(context, sink, batch, listener, network, pollMaxMillis, DEMAND_BYTES);
  }

  /** @param demandBytes the bytes one request asks for at most ({@link #DEMAND_BYTES}; tests change it) */
  OutboundWriter(Context context, WriteStream<Buffer> sink, int batch, Listener listener, StreamWritability network,
      long pollMaxMillis, int demandBytes) {
    this.demandBytes = demandBytes;
    this.eventBytes = DEMAND_BYTES / 4; // a first guess that asks for a few events until sizes are seen
    this.pollMaxMillis = pollMaxMillis;
    this.network = network;
    this.context = context;
    this.sink = sink;
    this.batch = batch;
    this.listener = listener;
  }

  /** When this writer last wrote to the network. */
  public long lastWriteNanos() {
    return lastWriteNanos;
  }

  /** Whether the network can take more right now. */
  public boolean isWritable() {
    return writable;
  }

  /**
   * Writes a control event now, ahead of whatever the producer has not emitted yet. Must be
   * called on the context.
   */
  public void writeControl(Event event) {
    if (cancelled) {
      return;
    }
    EventEncoder.encodeTo(event, pending());
    pendingEvents++;
    flush();
  }

  /**
   * Writes a last event now, whatever the write queue holds (it is one bounded event), and stops
   * taking events from the producer. Used for a fatal {@code link.error} just before the stream
   * ends. Must be called on the context.
   */
  public void writeLast(Event event) {
    if (cancelled) {
      return;
    }
    terminated = true;
    if (upstream != null) {
      upstream.cancel();
    }
    EventEncoder.encodeTo(event, pending());
    ByteBuf out = pending;
    int events = pendingEvents + 1;
    pending = Unpooled.EMPTY_BUFFER;
    pendingEvents = 0;
    int bytes = out.readableBytes();
    sink.write(Buffer.buffer(out));
    lastWriteNanos = System.nanoTime();
    listener.wrote(events, bytes);
  }

  /** Whether the producer has completed or failed, or a last event was written. */
  public boolean isTerminated() {
    return terminated;
  }

  /** Stops: cancels the producer and drops what is pending. Safe from any thread. */
  public void cancel() {
    cancelled = true;
    onContext(() -> {
      if (upstream != null) {
        upstream.cancel();
      }
      pending = Unpooled.EMPTY_BUFFER;
    });
  }

  @Override
  public void onSubscribe(Flow.Subscription s) {
    onContext(() -> {
      if (upstream != null || cancelled) {
        s.cancel();
        return;
      }
      upstream = s;
      replenish();
    });
  }

  @Override
  public void onNext(Event event) {
    if (Vertx.currentContext() == context && handoff.isEmpty()) {
      accept(event);
    } else {
      handoff.add(event);
      scheduleHandoff();
    }
  }

  @Override
  public void onError(Throwable t) {
    handoff.add(new Terminal(t));
    scheduleHandoff();
  }

  @Override
  public void onComplete() {
    handoff.add(new Terminal(null));
    scheduleHandoff();
  }

  private void scheduleHandoff() {
    if (handoffScheduled.compareAndSet(false, true)) {
      context.runOnContext(v -> {
        handoffScheduled.set(false);
        Object o;
        while ((o = handoff.poll()) != null) {
          if (o instanceof Event e) {
            accept(e);
          } else {
            terminate(((Terminal) o).failure);
          }
        }
      });
    }
  }

  private void accept(Event event) {
    if (cancelled || terminated) {
      return;
    }
    outstanding--;
    ByteBuf into = pending();
    int before = into.writerIndex();
    EventEncoder.encodeTo(event, into);
    int size = into.writerIndex() - before;
    eventBytes = Math.max(size, eventBytes - (eventBytes >> 3) + (size >> 3));
    pendingEvents++;
    if (pending.readableBytes() >= FLUSH_BYTES) {
      flush();
    } else if (!flushScheduled) {
      flushScheduled = true;
      context.runOnContext(v -> {
        flushScheduled = false;
        flush();
      });
    }
  }

  private void terminate(Throwable failure) {
    if (terminated || cancelled) {
      return;
    }
    terminated = true;
    if (!writable && pending.readableBytes() > 0) {
      // The tail is still waiting for the network: report the end only once it is written,
      // or the owner would end the stream before it (the drain handler finishes this).
      terminalPending = true;
      terminalFailure = failure;
      return;
    }
    flush();
    report(failure);
  }

  private void report(Throwable failure) {
    if (failure == null) {
      listener.completed();
    } else {
      listener.failed(failure);
    }
  }

  private void flush() {
    if (cancelled || !writable || pending.readableBytes() == 0) {
      return;
    }
    ByteBuf out = pending;
    int events = pendingEvents;
    nextCapacity = Math.max(1024, Math.min(FLUSH_BYTES + 1024, out.readableBytes() + 256));
    pending = Unpooled.EMPTY_BUFFER;
    pendingEvents = 0;
    int bytes = out.readableBytes();
    sink.write(Buffer.buffer(out));
    lastWriteNanos = System.nanoTime();
    listener.wrote(events, bytes);
    Boolean netty = network.opinion();
    boolean full;
    boolean nettyOnly = false;
    if (netty == null) {
      full = sink.writeQueueFull();
    } else if (netty) {
      // Netty would send more. Vert.x's flag is its copy of Netty's notices, flipped on each
      // one, so a notice it missed or got twice would leave it wrong for good, and a writer
      // paused on it alone would wait for a drain that never comes (a link once stalled so in
      // CI until its idle timeout ended it, 4,164 events short of 20,000). Netty's word wins.
      full = false;
    } else {
      // Netty cannot send all it holds for this stream: its window (or the connection's, or
      // the socket) is spent. Stop here, whatever Vert.x says: with a connection window larger
      // than the stream window Vert.x's flag follows the connection, not the stream, and every
      // byte written past Netty's word sits in the heap for as long as the peer does not read
      // (an allowance of 256 KiB past it let a guest that reads nothing park ~500 KB a link).
      full = true;
      nettyOnly = !sink.writeQueueFull();
    }
    if (full) {
      writable = false;
      pausedSince = System.nanoTime();
      sink.drainHandler(v -> drained());
      if (nettyOnly) {
        // No drain notice will come from Vert.x for a pause it did not see: look again after
        // each read from the peer (a WINDOW_UPDATE is a read), and now and then besides.
        awaitRead();
        poll(awaitingRead ? pollMaxMillis : 1, pollMaxMillis);
      } else if (netty != null) {
        // Paused on Vert.x's word, which brings the drain notice; should that notice never
        // come (the flag above), look at Netty's window now and then rather than wait for ever.
        long every = pollMaxMillis * STALE_POLL_FACTOR;
        poll(every, every);
      }
    } else if ((writtenThisTurn += bytes) >= YIELD_BYTES) {
      yieldThenReplenish();
    } else {
      replenish();
    }
  }

  /** Looks at the window after {@code delayMillis}, then again at doubling waits up to {@code maxMillis}. */
  private void poll(long delayMillis, long maxMillis) {
    pollTimer = context.owner().setTimer(delayMillis, id -> {
      pollTimer = -1;
      if (!waitingForWindow()) {
        return;
      }
      if (windowOpen()) {
        drained();
      } else {
        poll(Math.min(delayMillis * 2, maxMillis), maxMillis);
      }
    });
  }

  /** Looks at the stream's window again after the connection's next read. */
  private void awaitRead() {
    if (awaitingRead) {
      return;
    }
    awaitingRead = network.wakeAfterNextRead(() -> onContext(() -> {
      awaitingRead = false;
      if (!waitingForWindow()) {
        return;
      }
      if (windowOpen()) {
        drained();
      } else {
        awaitRead();
      }
    }));
  }

  /** The stream would take a write now: Netty's word where it has one, else Vert.x's. */
  private boolean windowOpen() {
    Boolean netty = network.opinion();
    return netty != null ? netty : !sink.writeQueueFull();
  }

  /**
   * Whether this writer still waits for the stream's window: paused, not cancelled, and with
   * something left to write. A producer can end on the very write that paused the writer; the
   * end is then reported at once and the owner ends the request, which must not be asked about
   * its window again (Vert.x throws "Request already complete").
   */
  private boolean waitingForWindow() {
    return !writable && !cancelled && !(terminated && !terminalPending && pending.readableBytes() == 0);
  }

  /** The network takes writes again: write what is pending, then ask the producer for more. */
  private void drained() {
    if (writable) {
      return;
    }
    writable = true;
    if (pollTimer >= 0) {
      context.owner().cancelTimer(pollTimer);
      pollTimer = -1;
    }
    listener.paused(System.nanoTime() - pausedSince);
    flush();
    if (terminalPending && !cancelled) {
      terminalPending = false;
      report(terminalFailure);
      return;
    }
    replenish();
  }

  /** Asks the producer for more in a later event-loop task, after the others have run. */
  private void yieldThenReplenish() {
    if (turnScheduled) {
      return;
    }
    turnScheduled = true;
    context.runOnContext(v -> {
      turnScheduled = false;
      writtenThisTurn = 0;
      replenish();
    });
  }

  private void replenish() {
    if (!writable || cancelled || terminated || upstream == null || turnScheduled) {
      return;
    }
    int limit = (int) Math.max(1, Math.min(batch, demandBytes / eventBytes));
    long want = limit - outstanding;
    if (want >= (limit + 1) / 2) {
      outstanding += want;
      upstream.request(want);
    }
  }

  /**
   * The buffer to encode into, made when the first event since the last write comes: an idle
   * link holds no buffer (thousands of idle guest links would otherwise hold 17 KiB each).
   */
  private ByteBuf pending() {
    if (pending == Unpooled.EMPTY_BUFFER) {
      pending = Unpooled.buffer(nextCapacity);
    }
    return pending;
  }

  private void onContext(Runnable r) {
    if (Vertx.currentContext() == context) {
      r.run();
    } else {
      context.runOnContext(v -> r.run());
    }
  }

  private record Terminal(Throwable failure) {}
}
