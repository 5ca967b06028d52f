/** Every topic name is built here (yoga's create-pub-sub habit). */
export const topic = {
  instance: (type: string, id: unknown) => `instance:${type}:${String(id)}`,
  group: (type: string, group: string, value: unknown) => `group:${type}:${group}:${String(value)}`,
  event: (type: string, name: string, group: string, value: unknown) => `event:${type}:${name}:${group}:${String(value)}`,
};

/** A group function's answer as topic values: one value, several, or none. */
export function groupValues(result: unknown): string[] {
  if (result === null || result === undefined) return [];
  const list = Array.isArray(result) || result instanceof Set ? [...result] : [result];
  return [...new Set(list.filter((v) => v !== null && v !== undefined).map(String))];
}
