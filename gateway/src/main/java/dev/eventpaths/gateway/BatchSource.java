package dev.eventpaths.gateway;

import dev.eventpaths.Event;
import java.util.ArrayDeque;
import java.util.List;
import java.util.concurrent.Flow;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The guest-to-host events of a fallback link, fed by numbered batched POSTs instead of a
 * streaming upload. Batch {@code n} is taken only after {@code n-1} and only once, so a guest
 * may retry a POST whose answer it never saw. The queue is bounded: a batch that does not fit
 * is refused ({@link Offer#FULL}) and the guest retries it later; that is the fallback's
 * backpressure.
 *
 * <p>A single-subscriber publisher; {@link #offer} may be called from any thread.
 */
final class BatchSource implements Flow.Publisher<Event> {
  enum Offer { ACCEPTED, DUPLICATE, GAP, FULL, CLOSED }

  private final int capacity;
  private final ArrayDeque<Event> queue = new ArrayDeque<>();
  private final AtomicInteger wip = new AtomicInteger();
  private long next;
  private long demand;
  private boolean completed;
  private boolean cancelled;
  private Flow.Subscriber<? super Event> subscriber;

  BatchSource(int capacity) {
    this.capacity = capacity;
  }

  /** The number of the batch expected next. */
  synchronized long next() {
    return next;
  }

  Offer offer(long n, List<Event> events) {
    synchronized (this) {
      if (cancelled || completed) {
        return Offer.CLOSED;
      }
      if (n < next) {
        return Offer.DUPLICATE;
      }
      if (n > next) {
        return Offer.GAP;
      }
      if (queue.size() + events.size() > capacity) {
        return Offer.FULL;
      }
      queue.addAll(events);
      next++;
    }
    drain();
    return Offer.ACCEPTED;
  }

  /** No more batches: the subscriber completes once the queue is drained. */
  void complete() {
    synchronized (this) {
      completed = true;
    }
    drain();
  }

  @Override
  public void subscribe(Flow.Subscriber<? super Event> s) {
    synchronized (this) {
      if (subscriber != null) {
        throw new IllegalStateException("one subscriber only");
      }
      subscriber = s;
    }
    s.onSubscribe(new Flow.Subscription() {
      @Override
      public void request(long n) {
        synchronized (BatchSource.this) {
          demand = demand + n < 0 ? Long.MAX_VALUE : demand + n;
        }
        drain();
      }

      @Override
      public void cancel() {
        synchronized (BatchSource.this) {
          cancelled = true;
          queue.clear();
        }
      }
    });
    drain();
  }

  /** Emits what demand allows; one thread at a time, others leave it work (wip). */
  private void drain() {
    if (wip.getAndIncrement() != 0) {
      return;
    }
    do {
      while (true) {
        Event e;
        boolean done;
        Flow.Subscriber<? super Event> s;
        synchronized (this) {
          s = subscriber;
          if (s == null || cancelled) {
            break;
          }
          done = completed && queue.isEmpty();
          e = demand > 0 ? queue.poll() : null;
          if (e != null) {
            demand--;
          }
          if (done) {
            cancelled = true; // terminal: emit completion once
          }
        }
        if (done) {
          s.onComplete();
          break;
        }
        if (e == null) {
          break;
        }
        s.onNext(e);
      }
    } while (wip.decrementAndGet() != 0);
  }
}
