package dev.eventpaths.bench;

/**
 * One way of carrying {@link BenchEvents} between this process and a server process. Every call
 * runs to completion and returns what the other side reported, so the caller can time it and
 * check that nothing was lost.
 */
interface Peer extends AutoCloseable {
  /** The longest any one call may take before the run gives up (a stall, not a slow peer). */
  long TIMEOUT_SECONDS = Long.getLong("bench.timeoutSeconds", 300);

  /** Short name for the table. */
  String name();

  /** Sends {@code n} events to the server's sink; returns the count the sink reported. */
  long oneWay(long n) throws Exception;

  /**
   * Sends {@code n} events in all, split evenly over {@code links} concurrent streams, to the
   * server's echo; returns how many echoed events came back.
   */
  long echo(int links, long n) throws Exception;

  /**
   * Over one stream, sends one event at a time and waits for its echo before sending the next,
   * {@code n} times; returns each round trip in nanoseconds.
   */
  long[] roundTrips(int n) throws Exception;

  @Override
  void close() throws Exception;
}
