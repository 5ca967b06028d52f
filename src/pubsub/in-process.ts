import type { PubSub } from './types';

/** Topic → listeners in one process; publishing to a topic nobody listens to costs one map lookup. */
export function inProcessPubSub<E = unknown>(): PubSub<E> & { topicCount(): number } {
  const topics = new Map<string, Set<(event: E) => void>>();
  return {
    publish(topic, event) {
      const listeners = topics.get(topic);
      if (!listeners) return;
      for (const listener of listeners) listener(event);
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
