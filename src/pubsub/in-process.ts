import { reportBackgroundError } from '../errors';
import type { PubSub } from './types';

/**
 * Topic → listeners in one process; publishing to a topic nobody listens to
 * costs one map lookup. A listener that throws is reported (`onError`) and
 * costs the other listeners nothing.
 */
export function inProcessPubSub<E = unknown>(onError: (error: unknown) => void = reportBackgroundError): PubSub<E> & { topicCount(): number } {
  const topics = new Map<string, Set<(event: E) => void>>();
  return {
    publish(topic, event) {
      const listeners = topics.get(topic);
      if (!listeners) return;
      for (const listener of listeners) {
        try {
          listener(event);
        } catch (error) {
          onError(error);
        }
      }
    },
    subscribe(topic, listener) {
      let listeners = topics.get(topic);
      if (!listeners) topics.set(topic, (listeners = new Set()));
      listeners.add(listener);
      return () => {
        listeners!.delete(listener);
        if (listeners!.size === 0 && topics.get(topic) === listeners) topics.delete(topic);
      };
    },
    topicCount: () => topics.size,
  };
}
