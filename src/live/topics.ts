/** Every topic name is built here (yoga's create-pub-sub habit). */
export const topic = {
  instance: (type: string, id: unknown) => `instance:${type}:${String(id)}`,
  group: (type: string, group: string, value: unknown) => `group:${type}:${group}:${String(value)}`,
  event: (type: string, name: string, group: string, value: unknown) => `event:${type}:${name}:${group}:${String(value)}`,
};

/**
 * A group function's answer as topic values: one value, several, or none —
 * at most `max` distinct ones (the first), so one row cannot make a change
 * cost thousands of topics.
 */
export function groupValues(result: unknown, max = Infinity): string[] {
  if (result === null || result === undefined) return [];
  const list = Array.isArray(result) || result instanceof Set ? [...result] : [result];
  const out = new Set<string>();
  for (const value of list) {
    if (out.size >= max) break;
    if (value !== null && value !== undefined) out.add(String(value));
  }
  return [...out];
}
