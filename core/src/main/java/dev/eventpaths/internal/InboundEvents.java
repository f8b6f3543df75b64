package dev.eventpaths.internal;

import dev.eventpaths.Event;
import dev.eventpaths.EventDecoder;
import dev.eventpaths.LinkClosedException;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.streams.ReadStream;
import java.util.ArrayDeque;
import java.util.concurrent.Flow;

/**
 * The events arriving on one HTTP/2 stream, as a single-subscriber {@link Flow.Publisher}.
 *
 * <p>Backpressure: the network is read only while the subscriber has outstanding demand. After
 * a chunk is decoded, events that exceed the demand stay queued and the stream is paused, so
 * HTTP/2 stops granting flow-control credit and the peer stops once its window is spent. The
 * queue therefore holds at most the events of one network chunk.
 *
 * <p>Liveness: every byte read counts as a sign of life ({@link #lastReadNanos()}); heartbeats
 * are consumed here and never reach the subscriber.
 *
 * <p>Threading: all state is touched on {@code context} only; {@code request} and
 * {@code cancel} from other threads hop onto it.
 */
public final class InboundEvents implements Flow.Publisher<Event>, Flow.Subscription {
  /** What the owning link hears about the stream. */
  public interface Listener {
    /** A line was refused by the decoder. */
    void refused(String reason, String message, String eventId);

    /** Events and bytes were read (for metrics). */
    void read(int events, int bytes);

    /** The subscriber cancelled: the owner decides what happens to the rest of the link. */
    void cancelled();

    /**
     * The network side is over: the peer ended its body ({@code reason == null}) or the stream
     * broke ({@code reason} is the {@code link.error} reason). Not called after a cancel.
     */
    void ended(String reason, String message);
  }

  private final Context context;
  private final Listener listener;
  private final EventDecoder decoder;
  /** Starts small (an idle link holds it for hours); it grows to a batch under load. */
  private final ArrayDeque<Event> queue = new ArrayDeque<>(4);
  private ReadStream<Buffer> source;
  private Flow.Subscriber<? super Event> subscriber;
  private long demand;
  private boolean paused = true; // until attach() knows better, assume nothing flows
  private boolean sourceEnded;
  private boolean discarding;
  private Throwable failure;
  private boolean done;
  private volatile long lastReadNanos = System.nanoTime();
  private int chunkEvents;

  private final boolean failuresAsEvents;

  /** The refusal of a {@code link.*} event from a peer that may not send them (a guest). */
  public static final String RESERVED_TYPE = "reserved_type";

  private boolean refuseReserved;

  /** The message of a {@link #RESERVED_TYPE} refusal. */
  public static String reservedMessage(String type) {
    return "'" + type + "' is reserved for the link itself; not forwarded";
  }

  /**
   * Refuses (as {@link #RESERVED_TYPE}, through {@link Listener#refused}) every {@code link.*}
   * event but heartbeats, which are consumed as always: for a stream from a guest, whose
   * {@code link.ready} or fatal {@code link.error} must not reach a service as if the link
   * had said it. Call before {@link #attach}.
   */
  public void refuseReservedTypes() {
    refuseReserved = true;
  }

  /**
   * @param failuresAsEvents when the stream breaks, end with a fatal {@code link.error} event
   *     (what a client link shows its app) instead of failing with {@link LinkClosedException}
   *     (what a service sees)
   */
  public InboundEvents(Context context, int maxEventBytes, boolean failuresAsEvents, Listener listener) {
    this.context = context;
    this.failuresAsEvents = failuresAsEvents;
    this.listener = listener;
    this.decoder = new EventDecoder(maxEventBytes, new EventDecoder.Sink() {
      @Override
      public void event(Event event) {
        chunkEvents++;
        if (Event.LINK_HEARTBEAT.equals(event.type()) || discarding) {
          return;
        }
        if (refuseReserved && event.isControl()) {
          listener.refused(RESERVED_TYPE, reservedMessage(event.type()), event.id());
          return;
        }
        queue.add(event);
      }

      @Override
      public void refused(String reason, String message, String eventId) {
        listener.refused(reason, message, eventId);
      }
    });
  }

  /** Starts reading {@code stream}; must be called on the context. */
  public void attach(ReadStream<Buffer> stream) {
    this.source = stream;
    stream.handler(this::chunk);
    stream.endHandler(v -> {
      if (sourceEnded) {
        return;
      }
      decoder.end();
      sourceEnded = true;
      listener.ended(null, null);
      drain();
    });
    stream.exceptionHandler(this::broken);
    if (demand == 0 && !discarding) {
      stream.pause(); // the server may hand us a flowing request: stop it until asked
    } else {
      stream.resume();
      paused = false;
    }
  }

  /** When the last byte arrived from the peer. */
  public long lastReadNanos() {
    return lastReadNanos;
  }

  /** Whether reading is paused because the subscriber has no demand. */
  public boolean isPausedByConsumer() {
    return paused && !sourceEnded;
  }

  /** Whether the stream is over (ended, failed or cancelled). */
  public boolean isDone() {
    return done || sourceEnded && queue.isEmpty();
  }

  /** The stream broke: maps the exception to a reason and ends with it. */
  private void broken(Throwable t) {
    String reason = t instanceof io.vertx.core.http.StreamResetException ? "cancelled" : "connection_lost";
    String message = t instanceof io.vertx.core.http.StreamResetException reset
        ? "the peer reset the stream (HTTP/2 error code " + reset.getCode() + ")"
        : "connection lost: " + t.getMessage();
    breakWith(reason, message);
  }

  /**
   * Ends the stream because the link broke, after the events already queued: with a fatal
   * {@code link.error} event or a {@link LinkClosedException}, as chosen at construction.
   */
  public void breakWith(String reason, String message) {
    breakWith(reason, message, java.util.Map.of());
  }

  /** As {@link #breakWith(String, String)}, with more fields in the {@code link.error}'s data. */
  public void breakWith(String reason, String message, java.util.Map<String, Object> more) {
    onContext(() -> {
      if (sourceEnded) {
        return;
      }
      if (failuresAsEvents) {
        queue.add(Event.error(reason, message, true, null, more));
      } else {
        failure = new LinkClosedException(reason, message);
      }
      sourceEnded = true;
      // The input hears of the break before the owner cancels the output: a service whose
      // output is built from its input then sees the failure, not a bare cancellation.
      drain();
      listener.ended(reason, message);
    });
  }

  private void fail(Throwable t) {
    if (failure == null && !sourceEnded) {
      failure = t;
      sourceEnded = true;
      drain();
    }
  }

  /**
   * Ends the stream with one last event (a {@code link.error}) after those already queued.
   * This is how a client link reports a failure as an event rather than an error signal.
   */
  public void endWith(Event last) {
    onContext(() -> {
      if (!sourceEnded) {
        if (last != null) {
          queue.add(last);
        }
        sourceEnded = true;
        drain();
      }
    });
  }

  private void chunk(Buffer chunk) {
    lastReadNanos = System.nanoTime();
    if (sourceEnded) {
      return; // the link broke or ended here: what the peer still sends is dropped, not queued
    }
    chunkEvents = 0;
    decoder.feed(chunk.getByteBuf());
    listener.read(chunkEvents, chunk.length());
    drain();
  }

  @Override
  public void subscribe(Flow.Subscriber<? super Event> s) {
    onContext(() -> {
      if (subscriber != null) {
        s.onSubscribe(new Flow.Subscription() {
          @Override
          public void request(long n) {}

          @Override
          public void cancel() {}
        });
        s.onError(new IllegalStateException("a link's input can be subscribed only once"));
        return;
      }
      subscriber = s;
      s.onSubscribe(this);
      drain();
    });
  }

  @Override
  public void request(long n) {
    if (n <= 0) {
      onContext(() -> fail(new IllegalArgumentException("request(" + n + "): demand must be positive (Reactive Streams 3.9)")));
      return;
    }
    onContext(() -> {
      demand += n;
      if (demand < 0) {
        demand = Long.MAX_VALUE;
      }
      drain();
    });
  }

  @Override
  public void cancel() {
    onContext(() -> {
      if (done) {
        return;
      }
      done = true;
      discarding = true;
      queue.clear();
      subscriber = null;
      // Keep reading and dropping: the peer's heartbeats still prove it alive and its
      // writes must not stall on a window nobody empties.
      resume();
      listener.cancelled();
    });
  }

  private void drain() {
    if (done) {
      return;
    }
    Flow.Subscriber<? super Event> s = subscriber;
    if (s != null) {
      while (demand > 0 && !queue.isEmpty()) {
        demand--;
        s.onNext(queue.poll());
        if (done) {
          return;
        }
      }
      if (queue.isEmpty() && sourceEnded) {
        done = true;
        subscriber = null;
        if (failure != null) {
          s.onError(failure);
        } else {
          s.onComplete();
        }
        return;
      }
    }
    if (queue.isEmpty() && (demand > 0 || discarding)) {
      resume();
    } else {
      pause();
    }
  }

  private void pause() {
    if (!paused && source != null && !sourceEnded) {
      paused = true;
      source.pause();
    }
  }

  private void resume() {
    if (paused && source != null && !sourceEnded) {
      paused = false;
      source.resume();
    }
  }

  private void onContext(Runnable r) {
    if (Vertx.currentContext() == context) {
      r.run();
    } else {
      context.runOnContext(v -> r.run());
    }
  }
}
