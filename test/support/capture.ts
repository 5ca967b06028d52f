/**
 * Runs a suite once per capture mode: `describeEachCapture('groups', (capture) => { … })`
 * declares "groups (orm capture)" and "groups (database capture)", each with
 * its own hooks, so each mode starts and closes its own server and database.
 * Both must give the same events for the same writes.
 */
import type { CaptureMode } from '../../src';

/** The capture modes that record changes (`'none'` records nothing). */
export const CAPTURE_MODES = ['orm', 'database'] as const satisfies readonly CaptureMode[];

export type TestCapture = (typeof CAPTURE_MODES)[number];

export function describeEachCapture(name: string, fn: (capture: TestCapture) => void): void {
  describe.each(CAPTURE_MODES)(`${name} (%s capture)`, (capture) => fn(capture));
}
