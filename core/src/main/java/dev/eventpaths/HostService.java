package dev.eventpaths;

import jakarta.enterprise.util.AnnotationLiteral;
import jakarta.inject.Qualifier;
import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;

/**
 * Names an {@link EventService} bean; callers reach it at {@code POST /links/{value}}.
 *
 * <pre>{@code
 * @ApplicationScoped
 * @HostService("echo")
 * class Echo implements EventService {
 *   public Multi<Event> apply(Multi<Event> in, LinkContext link) { return in; }
 * }
 * }</pre>
 */
@Qualifier
@Retention(RetentionPolicy.RUNTIME)
@Target({ElementType.TYPE, ElementType.METHOD, ElementType.FIELD, ElementType.PARAMETER})
public @interface HostService {
  /** The service name: 1-64 chars of {@code a-z 0-9 -}. */
  String value();

  /** For looking services up by name. */
  final class Literal extends AnnotationLiteral<HostService> implements HostService {
    private final String value;

    public Literal(String value) {
      this.value = value;
    }

    @Override
    public String value() {
      return value;
    }
  }
}
