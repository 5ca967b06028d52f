import type { RowChange } from '../change/row-change';

/**
 * Carries committed changes between server processes. Each process's
 * capture hands its transactions to `publish`; every process — the
 * publishing one included — gets every process's transactions from the
 * transport, in one order they all agree on, and routes them for its own
 * subscribers. So rows cross the process boundary once, and routing stays
 * per process: a process without a subscriber of a topic does nothing per
 * subscriber for it.
 */
export interface ChangeTransport {
  /** One committed transaction's changes (in commit order), captured in this process. */
  publish(changes: RowChange[]): void;
  /**
   * Begins handing every process's transactions to `sink`, one at a time
   * (the next after `sink`'s promise settles). `lost` is called when some may
   * have been missed — the transport restarted, trimmed past this process,
   * or a publisher dropped what it could not send: subscribers must refetch.
   * Resolves once it reads.
   */
  start(sink: (changes: RowChange[]) => Promise<void>, lost: (reason: string) => void): Promise<void>;
  /** This process's changes that will never be handed to `sink` (dropped while the transport was unreachable). */
  onDropped?: (changes: RowChange[]) => void;
  /** Connected, and how far behind: for health reports. */
  readonly state: TransportState;
  close(): Promise<void>;
}

export interface TransportState {
  connected: boolean;
  /** Transactions waiting to be sent (the transport was unreachable). */
  backlog: number;
  /** When changes were last found missing, and why. */
  lastGap?: { at: Date; reason: string };
}
