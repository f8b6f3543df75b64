package dev.eventpaths.bench;

import dev.eventpaths.EventEncoder;
import io.netty.buffer.ByteBuf;
import io.netty.util.ByteProcessor;
import io.vertx.core.AbstractVerticle;
import io.vertx.core.Context;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import dev.eventpaths.internal.FlushBatching;
import io.vertx.core.http.HttpClient;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpClientRequest;
import io.vertx.core.http.HttpMethod;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.http.PoolOptions;
import io.vertx.core.http.RequestOptions;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.JdkSSLEngineOptions;
import io.vertx.core.net.PemTrustOptions;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

/**
 * Many guests, as browsers are ones: HTTPS with ALPN h2, each guest link an upload (a streaming
 * POST) and a download (a streaming GET) tied by the {@code eventpaths-guest} header
 * (docs/PROTOCOL.md, section 5). It drives the gateway and the Node relay alike: it only needs
 * the guest routes and echo semantics (what goes up comes back down, after a first
 * {@code link.ready} line).
 *
 * <p>The pairs are spread over a fixed number of connections, one Vert.x HTTP client (and one
 * event loop context) per connection; a pair's upload and download share its connection, as
 * in a browser. All of a connection's state is touched on its context only.
 *
 * <p>Events are the bench's 200-byte lines, written pre-encoded with their seq patched in; the
 * answers are split into lines and only the seq is read (no JSON parsing), so the client spends
 * as little of the shared cores as it can.
 */
final class GuestLoad implements AutoCloseable {
  /** Send times are kept per link in a ring this big: at most this many events in flight per link. */
  static final int RING = 256;

  private static final byte[] TEMPLATE = EventEncoder.encode(BenchEvents.event(1));
  private static final int SEQ_AT = new String(TEMPLATE, StandardCharsets.US_ASCII).indexOf("\"seq\":") + 6;
  private static final int SEQ_DIGITS = 7;
  private static final byte[] READY = "\"link.ready\"".getBytes(StandardCharsets.US_ASCII);
  private static final byte[] ERROR = "\"link.error\"".getBytes(StandardCharsets.US_ASCII);

  enum Mode { IDLE, LOAD, PACED, STOP }

  private final String name;
  private final int port;
  private final Vertx vertx;
  private final List<Conn> conns = new ArrayList<>();
  private final java.net.http.HttpClient jdk;
  private final List<Pair> pairs = new ArrayList<>();
  final ConcurrentLinkedQueue<String> errors = new ConcurrentLinkedQueue<>();

  private volatile Mode mode = Mode.IDLE;
  private volatile boolean recording;
  private volatile int window = 8;
  private volatile double pacedPerConnPerNano;
  private volatile int pacedCap;

  GuestLoad(String name, int port, Path caCert, int connections, int streamsPerConnection) throws Exception {
    this.name = name;
    this.port = port;
    this.vertx = Vertx.vertx();
    this.jdk = jdkClient(caCert);
    for (int i = 0; i < connections; i++) {
      // A verticle per connection: its own event loop context (round robin over the loops).
      CompletableFuture<Context> ctx = new CompletableFuture<>();
      vertx.deployVerticle(new AbstractVerticle() {
        @Override
        public void start() {
          ctx.complete(context);
        }
      }).toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
      HttpClient http = vertx.createHttpClient(new HttpClientOptions().setProtocolVersion(HttpVersion.HTTP_2)
          .setSsl(true).setUseAlpn(true).setTrustOptions(new PemTrustOptions().addCertPath(caCert.toString()))
          // Pooled buffers for TLS records: without them Netty's JDK SSL path allocates (and zeroes)
          // a fresh ~16 KiB heap buffer for every record written, which made the client the
          // bottleneck when it writes one event per write.
          .setSslEngineOptions(new JdkSSLEngineOptions().setPooledHeapBuffers(true))
          .setDefaultHost("127.0.0.1").setDefaultPort(port).setHttp2MultiplexingLimit(streamsPerConnection)
          .setConnectTimeout(10_000), new PoolOptions().setHttp2MaxSize(1));
      conns.add(new Conn(http, ctx.get(10, TimeUnit.SECONDS)));
    }
  }

  String name() {
    return name;
  }

  // --- guest ids and other plain requests: the JDK client (one request per stream, no resets) ---

  private static java.net.http.HttpClient jdkClient(Path caCert) throws Exception {
    var ks = java.security.KeyStore.getInstance("PKCS12");
    ks.load(null, null);
    try (var in = Files.newInputStream(caCert)) {
      ks.setCertificateEntry("ca", java.security.cert.CertificateFactory.getInstance("X.509").generateCertificate(in));
    }
    var tmf = javax.net.ssl.TrustManagerFactory.getInstance(javax.net.ssl.TrustManagerFactory.getDefaultAlgorithm());
    tmf.init(ks);
    var ssl = javax.net.ssl.SSLContext.getInstance("TLS");
    ssl.init(null, tmf.getTrustManagers(), null);
    return java.net.http.HttpClient.newBuilder().sslContext(ssl).version(java.net.http.HttpClient.Version.HTTP_2)
        .connectTimeout(Duration.ofSeconds(10)).build();
  }

  /** {@code GET|POST path} on the server, answered with JSON. */
  JsonObject json(String method, String path) throws Exception {
    var req = java.net.http.HttpRequest.newBuilder(URI.create("https://127.0.0.1:" + port + path))
        .timeout(Duration.ofSeconds(30)).method(method, java.net.http.HttpRequest.BodyPublishers.noBody()).build();
    var r = jdk.send(req, java.net.http.HttpResponse.BodyHandlers.ofString());
    if (r.statusCode() != 200) {
      throw new IllegalStateException(name + ": " + method + " " + path + " answered " + r.statusCode() + " " + r.body());
    }
    return new JsonObject(r.body());
  }

  List<String> newGuests(int n) throws Exception {
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      out.add(json("POST", "/guest").getString("guest"));
    }
    return out;
  }

  // --- opening and closing pairs ---

  /**
   * Opens {@code count} pairs ({@code perGuest} links per guest, link names {@code prefix + i}),
   * {@code batch} at a time, and waits until every download has shown {@code link.ready}.
   */
  void open(List<String> guests, int count, int perGuest, String prefix, int batch) throws Exception {
    if (!pairs.isEmpty()) {
      throw new IllegalStateException("pairs are open already");
    }
    mode = Mode.IDLE;
    for (int from = 0; from < count; from += batch) {
      List<Pair> opened = new ArrayList<>();
      for (int i = from; i < Math.min(count, from + batch); i++) {
        Pair p = new Pair(conns.get(i % conns.size()), guests.get(i / perGuest), prefix + i);
        pairs.add(p);
        opened.add(p);
        p.conn.ctx.runOnContext(v -> p.open());
      }
      for (Pair p : opened) {
        try {
          p.ready.get(30, TimeUnit.SECONDS);
        } catch (TimeoutException e) {
          throw new IllegalStateException(name + ": link " + p.link + " not ready within 30 s");
        }
      }
    }
  }

  /** Ends every upload and waits until every download has ended. */
  void closeAll(Duration timeout) throws Exception {
    mode = Mode.STOP;
    for (Pair p : pairs) {
      p.conn.ctx.runOnContext(v -> p.endUpload());
    }
    long deadline = System.nanoTime() + timeout.toNanos();
    int stuck = 0;
    for (Pair p : pairs) {
      try {
        p.ended.get(Math.max(1, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
      } catch (TimeoutException e) {
        stuck++;
        p.conn.ctx.runOnContext(v -> p.reset());
      }
    }
    if (stuck > 0) {
      errors.add(stuck + " downloads did not end within " + timeout.toSeconds() + " s of their upload ending (reset)");
    }
    pairs.clear();
    onEach(c -> {
      c.pairs.clear();
      c.next = 0;
      return null;
    });
    mode = Mode.IDLE;
  }

  // --- load ---

  /** Every link keeps {@code window} events in flight: an answer is followed by the next send. */
  void load(int window) throws Exception {
    if (window < 1 || window >= RING) {
      throw new IllegalArgumentException("window must be 1.." + (RING - 1));
    }
    this.window = window;
    mode = Mode.LOAD;
    for (Pair p : pairs) {
      p.conn.ctx.runOnContext(v -> p.topUp());
    }
  }

  /**
   * Sends {@code perSecond} events per second in all, one event per write, spread evenly over
   * the links (round robin per connection; each connection's timer wakes when its next event is
   * due, at most every millisecond, and sends every event due by then). A link with {@code cap}
   * events in flight skips its turn (counted: a sign the system is not keeping up).
   */
  void pace(double perSecond, int cap) throws Exception {
    if (cap < 1 || cap >= RING) {
      throw new IllegalArgumentException("cap must be 1.." + (RING - 1));
    }
    pacedCap = cap;
    pacedPerConnPerNano = perSecond / conns.size() / 1e9;
    mode = Mode.PACED;
    onEach(c -> {
      c.pacedStart = System.nanoTime();
      c.pacedSlots = 0;
      c.tick();
      return null;
    });
  }

  /**
   * What one measuring window saw. {@code starved}: links that had events in flight through the
   * whole window and got no answer in it.
   */
  record Window(double seconds, long echoed, long[] roundTripNanos, long skipped, int[] starvedPerConnection) {
    int starved() {
      return Arrays.stream(starvedPerConnection).sum();
    }

    double perSecond() {
      return echoed / seconds;
    }

    /** The {@code q} quantile of the round trips, in milliseconds. */
    double roundTripMillis(double q) {
      if (roundTripNanos.length == 0) {
        return Double.NaN;
      }
      int i = (int) Math.min(roundTripNanos.length - 1, Math.max(0, Math.ceil(q * roundTripNanos.length) - 1));
      return roundTripNanos[i] / 1e6;
    }
  }

  /** Measures for {@code seconds}: answers received in that time, and each one's round trip. */
  Window measure(double seconds) throws Exception {
    onEach(c -> {
      c.samples = new long[1 << 16];
      c.sampleCount = 0;
      return null;
    });
    long[] before = snapshot();
    recording = true;
    long t0 = System.nanoTime();
    Thread.sleep((long) (seconds * 1000));
    recording = false;
    long t1 = System.nanoTime();
    long[] after = snapshot();
    List<long[]> parts = onEach(c -> Arrays.copyOf(c.samples, c.sampleCount));
    long[] all = parts.stream().flatMapToLong(Arrays::stream).sorted().toArray();
    int[] starved = onEach(c -> (int) c.pairs.stream()
        .filter(p -> p.sent > p.received && p.lastAnswer < t0 && p.sentAt[(int) ((BenchEvents.SEQ_BASE + p.received + 1)
            & (RING - 1))] < t0)
        .count()).stream().mapToInt(Integer::intValue).toArray();
    return new Window((t1 - t0) / 1e9, after[0] - before[0], all, after[1] - before[1], starved);
  }

  /** [echoed, skipped] over all connections so far. */
  private long[] snapshot() throws Exception {
    long[] s = new long[2];
    for (long[] c : onEach(c -> new long[] {c.echoed, c.skipped})) {
      s[0] += c[0];
      s[1] += c[1];
    }
    return s;
  }

  /** How many of the open pairs have ended (their download ended or failed). */
  long pairsEnded() throws Exception {
    long n = 0;
    for (long c : onEach(c -> c.pairs.stream().filter(p -> p.ended.isDone()).count())) {
      n += c;
    }
    return n;
  }

  /** What a stop found: events sent, answered, answered out of order, never answered. */
  record Drained(long sent, long received, long misordered, long lost) {}

  /** Stops sending and waits (up to {@code timeout}) until every event sent has been answered. */
  Drained stop(Duration timeout) throws Exception {
    mode = Mode.STOP;
    onEach(c -> {
      if (c.timer >= 0) {
        vertx.cancelTimer(c.timer);
        c.timer = -1;
      }
      return null;
    });
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      long sent = 0;
      long received = 0;
      long misordered = 0;
      for (long[] c : onEach(c -> {
        long[] s = new long[3];
        for (Pair p : c.pairs) {
          s[0] += p.sent;
          s[1] += p.received;
          s[2] += p.misordered;
        }
        return s;
      })) {
        sent += c[0];
        received += c[1];
        misordered += c[2];
      }
      if (received >= sent || System.nanoTime() > deadline) {
        mode = Mode.IDLE;
        return new Drained(sent, received, misordered, sent - received);
      }
      Thread.sleep(50);
    }
  }

  private <T> List<T> onEach(java.util.function.Function<Conn, T> task) throws Exception {
    List<CompletableFuture<T>> fs = new ArrayList<>();
    for (Conn c : conns) {
      CompletableFuture<T> f = new CompletableFuture<>();
      c.ctx.runOnContext(v -> {
        try {
          f.complete(task.apply(c));
        } catch (Throwable t) {
          f.completeExceptionally(t);
        }
      });
      fs.add(f);
    }
    List<T> out = new ArrayList<>();
    for (CompletableFuture<T> f : fs) {
      out.add(f.get(30, TimeUnit.SECONDS));
    }
    return out;
  }

  @Override
  public void close() throws Exception {
    for (Conn c : conns) {
      c.http.close();
    }
    vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
  }

  /** One client connection and the pairs on it; touched on {@link #ctx} only. */
  private final class Conn {
    final HttpClient http;
    final Context ctx;
    final List<Pair> pairs = new ArrayList<>();
    long echoed;
    long skipped;
    long[] samples = new long[16];
    int sampleCount;
    long timer = -1;
    long pacedStart;
    long pacedSlots;
    int next;

    Conn(HttpClient http, Context ctx) {
      this.http = http;
      this.ctx = ctx;
    }

    void sample(long nanos) {
      if (sampleCount == samples.length) {
        samples = Arrays.copyOf(samples, samples.length * 2);
      }
      samples[sampleCount++] = nanos;
    }

    /** The paced sender: every slot due by now goes to the next link in turn; then sleep until the next one. */
    void tick() {
      timer = -1;
      if (mode != Mode.PACED || pairs.isEmpty()) {
        return;
      }
      long now = System.nanoTime();
      long due = (long) ((now - pacedStart) * pacedPerConnPerNano) - pacedSlots;
      for (long i = 0; i < due; i++) {
        pacedSlots++;
        Pair p = pairs.get(next);
        next = (next + 1) % pairs.size();
        if (p.sent - p.received >= pacedCap || p.up == null || p.up.writeQueueFull()) {
          if (recording) {
            skipped++;
          }
          continue;
        }
        p.send(1);
      }
      long nextAt = pacedStart + (long) Math.ceil((pacedSlots + 1) / pacedPerConnPerNano);
      timer = vertx.setTimer(Math.max(1, (nextAt - System.nanoTime()) / 1_000_000), t -> tick());
    }
  }

  /** One guest link: its upload and download, and what went through it. Touched on its connection's context. */
  private final class Pair {
    final Conn conn;
    final String guest;
    final String link;
    final CompletableFuture<Void> ready = new CompletableFuture<>();
    final CompletableFuture<Void> ended = new CompletableFuture<>();
    final long[] sentAt = new long[RING];
    HttpClientRequest up;
    HttpClientRequest down;
    long sent;
    long received;
    long misordered;
    long lastAnswer;
    byte[] carry = new byte[512];
    int carryLength;
    boolean drainSet;
    boolean closing;

    Pair(Conn conn, String guest, String link) {
      this.conn = conn;
      this.guest = guest;
      this.link = link;
      conn.pairs.add(this);
    }

    void open() {
      String path = "/g/echo/" + link;
      conn.http.request(new RequestOptions().setMethod(HttpMethod.POST).setURI(path + "/up")
          .putHeader("eventpaths-guest", guest).putHeader("content-type", "application/x-ndjson"))
          .onFailure(this::failed)
          .onSuccess(req -> {
            up = req;
            // Writes to several streams in one event-loop turn leave in one flush, as a browser's
            // HTTP/2 session sends them (the library's batching; without it Vert.x flushes, and
            // so writes a TLS record, per stream write).
            FlushBatching.install(req.connection());
            req.setChunked(true); // else Vert.x refuses writes without a content-length (HTTP/2 sends no chunking)
            req.exceptionHandler(this::upFailed);
            req.response().onFailure(this::upFailed);
            req.sendHead().onFailure(this::upFailed);
            conn.http.request(new RequestOptions().setMethod(HttpMethod.GET).setURI(path + "/down")
                .putHeader("eventpaths-guest", guest))
                .onFailure(this::failed)
                .onSuccess(d -> {
                  down = d;
                  d.exceptionHandler(this::failed);
                  d.send().onFailure(this::failed).onSuccess(resp -> {
                    if (resp.statusCode() != 200) {
                      resp.body().onComplete(b -> failed(new IllegalStateException(
                          "download answered " + resp.statusCode() + " " + (b.succeeded() ? b.result() : b.cause()))));
                      return;
                    }
                    resp.handler(this::data);
                    resp.exceptionHandler(this::failed);
                    resp.endHandler(v -> {
                      ready.completeExceptionally(new IllegalStateException("download ended before link.ready"));
                      ended.complete(null);
                    });
                  });
                });
          });
    }

    /**
     * The upload broke. The server answers an ended upload and may then reset it with NO_ERROR
     * (RFC 9113 8.1): that is the normal end. Anything else is logged; the download (which the
     * server ends when the upload breaks) says when the pair is over.
     */
    void upFailed(Throwable t) {
      if (t instanceof io.vertx.core.http.StreamResetException r && r.getCode() == 0) {
        return;
      }
      if (!ended.isDone() && !closing) {
        errors.add(link + " (upload): " + t);
      }
    }

    /** The download (or opening the pair) failed: the pair is over. */
    void failed(Throwable t) {
      if (!ended.isDone()) {
        errors.add(link + ": " + t);
      }
      ready.completeExceptionally(t);
      ended.complete(null);
    }

    void endUpload() {
      closing = true;
      if (up != null) {
        up.end();
      } else {
        ended.complete(null);
      }
    }

    void reset() {
      if (up != null) {
        up.reset(8);
      }
      if (down != null) {
        down.reset(8);
      }
      ended.complete(null);
    }

    /** Writes {@code n} events in one write. */
    void send(int n) {
      Buffer b = Buffer.buffer(n * TEMPLATE.length);
      long now = System.nanoTime();
      for (int i = 0; i < n; i++) {
        long seq = BenchEvents.SEQ_BASE + (++sent);
        sentAt[(int) (seq & (RING - 1))] = now;
        int at = b.length();
        b.appendBytes(TEMPLATE);
        for (int d = SEQ_DIGITS - 1; d >= 0; d--, seq /= 10) {
          b.setByte(at + SEQ_AT + d, (byte) ('0' + seq % 10));
        }
      }
      try {
        up.write(b).onFailure(this::upFailed);
      } catch (RuntimeException e) { // thrown on the event loop, it would go unseen
        errors.add(link + " (write): " + e);
      }
    }

    /** In LOAD mode: back to {@code window} events in flight, in one write. */
    void topUp() {
      if (mode != Mode.LOAD || up == null || !ready.isDone()) {
        return;
      }
      if (up.writeQueueFull()) {
        if (!drainSet) {
          drainSet = true;
          up.drainHandler(v -> {
            drainSet = false;
            topUp();
          });
        }
        return;
      }
      int n = (int) (window - (sent - received));
      if (n > 0) {
        send(n);
      }
    }

    /** A chunk of the download: split into lines (a line may span chunks). */
    @SuppressWarnings("deprecation") // getByteBuf: a view of the chunk, no copy
    void data(Buffer chunk) {
      ByteBuf buf = chunk.getByteBuf();
      int from = buf.readerIndex();
      int end = buf.writerIndex();
      long now = System.nanoTime();
      while (from < end) {
        int lf = buf.forEachByte(from, end - from, ByteProcessor.FIND_LF);
        if (lf < 0) {
          append(buf, from, end - from);
          break;
        }
        if (carryLength == 0) {
          line(buf, from, lf - from, now);
        } else {
          append(buf, from, lf - from);
          line(io.netty.buffer.Unpooled.wrappedBuffer(carry, 0, carryLength), 0, carryLength, now);
          carryLength = 0;
        }
        from = lf + 1;
      }
      if (mode == Mode.LOAD) {
        topUp();
      }
    }

    private void append(ByteBuf buf, int from, int length) {
      if (carryLength + length > carry.length) {
        carry = Arrays.copyOf(carry, Math.max(carry.length * 2, carryLength + length));
      }
      buf.getBytes(from, carry, carryLength, length);
      carryLength += length;
    }

    private void line(ByteBuf buf, int at, int length, long now) {
      if (length == TEMPLATE.length - 1 && buf.getByte(at + 2) == 't' && buf.getByte(at + 9) == 'b') {
        long seq = 0;
        for (int d = 0; d < SEQ_DIGITS; d++) {
          seq = seq * 10 + (buf.getByte(at + SEQ_AT + d) - '0');
        }
        received++;
        lastAnswer = now;
        if (seq != BenchEvents.SEQ_BASE + received) {
          misordered++;
        }
        if (recording) {
          conn.echoed++;
          conn.sample(now - sentAt[(int) (seq & (RING - 1))]);
        }
        return;
      }
      if (contains(buf, at, length, READY)) {
        ready.complete(null);
      } else if (contains(buf, at, length, ERROR)) {
        errors.add(link + ": " + buf.toString(at, length, StandardCharsets.UTF_8));
      }
    }

    private boolean contains(ByteBuf buf, int at, int length, byte[] what) {
      outer:
      for (int i = at; i <= at + length - what.length; i++) {
        for (int j = 0; j < what.length; j++) {
          if (buf.getByte(i + j) != what[j]) {
            continue outer;
          }
        }
        return true;
      }
      return false;
    }
  }

}
