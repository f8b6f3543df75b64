package dev.eventpaths.presence;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** presence-read's own settings, under {@code presence.*} (see README, "Configuration"). */
@ConfigMapping(prefix = "presence")
public interface PresenceConfig {
  /** The guest service whose links count as viewing a board (the board is the link's {@code board} param). */
  @WithDefault("board")
  String service();

  /**
   * Most viewer links held, over all gateways. An {@code opened} beyond it is refused with a
   * non-fatal {@code link.error} ({@code too_many_entries}), so a gateway gone wrong cannot
   * grow this service without bound.
   */
  @WithDefault("100000")
  int maxEntries();

  /** Largest payload of one snapshot event; a crowded board's snapshot is sent in parts. */
  @WithDefault("32768")
  int snapshotPartBytes();
}
