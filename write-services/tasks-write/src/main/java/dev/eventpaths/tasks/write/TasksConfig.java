package dev.eventpaths.tasks.write;

import io.smallrye.config.ConfigMapping;
import io.smallrye.config.WithDefault;

/** tasks-write's configuration, under {@code tasks.*}. */
@ConfigMapping(prefix = "tasks")
public interface TasksConfig {
  /**
   * {@code sqlite}: an embedded file (one instance); {@code postgres}: PostgreSQL shared by
   * several instances.
   */
  @WithDefault("sqlite")
  String store();

  /** PostgreSQL settings, for {@code tasks.store=postgres}. */
  Postgres postgres();

  /** PostgreSQL settings. */
  interface Postgres {
    /** JDBC URL with credentials, e.g. from a Fly secret ({@code TASKS_POSTGRES_URL}). */
    java.util.Optional<String> url();
  }

  /** Where the embedded store keeps {@code tasks.db}. */
  @WithDefault(".data/tasks-write")
  String dataDir();

  /** Commands waiting for the writer, at most; past it a command is deferred (not acked). */
  @WithDefault("65536")
  int queue();

  /** Commands per transaction, at most. */
  @WithDefault("1024")
  int maxBatch();
}
