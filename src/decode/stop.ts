/**
 * Stop sequences on streamed text (pure TS). Text arrives in pieces (the stream decoder's output,
 * one piece per token at most); the matcher passes it on, except:
 *   - text that could still be the beginning of a stop string is held back until it cannot;
 *   - when a stop string is complete, the text before it is released, the stop text and everything
 *     after it are dropped, and the matcher reports the stop.
 * Which stop wins is decided as if the text arrived one UTF-16 unit at a time: the occurrence that
 * ends first, and among those the one that starts first (so with stops `ab` and `abc`, `ab` ends the
 * text first). The result therefore depends only on the text, never on how it was cut into pieces
 * (tokens, or the tokens of one accepted draft step), as in OpenAI's and llama.cpp's `stop`.
 */
import { InvalidArgumentError } from '../errors.js';

/** Most stop strings a request may name (as in the OpenAI API). */
export const MAX_STOP_SEQUENCES = 4;

/**
 * Checks `stop` (undefined: none) and returns it as an array.
 * @throws InvalidArgumentError unless it is an array of at most {@link MAX_STOP_SEQUENCES} non-empty strings.
 */
export function validateStops(stop: unknown): string[] {
  if (stop === undefined) return [];
  if (!Array.isArray(stop)) throw new InvalidArgumentError(`stop must be an array of strings, got ${JSON.stringify(stop)}.`);
  if (stop.length > MAX_STOP_SEQUENCES) throw new InvalidArgumentError(`stop: at most ${MAX_STOP_SEQUENCES} sequences, got ${stop.length}.`);
  for (const s of stop) {
    if (typeof s !== 'string' || s.length === 0) throw new InvalidArgumentError(`stop: every sequence must be a non-empty string, got ${JSON.stringify(s)}.`);
  }
  return [...stop] as string[];
}

export class StopMatcher {
  /** Text received but not released (it may begin a stop string). */
  #held = '';
  #stopped: string | null = null;

  /** @param stops stop strings (validated with {@link validateStops}); none: the matcher passes text through. */
  constructor(readonly stops: readonly string[]) {}

  /** The stop string that ended the text, or null. */
  get stopped(): string | null {
    return this.#stopped;
  }

  /**
   * Adds a piece of text; returns the text that is now safe to release (may be ''). After a stop,
   * every later piece is ignored and '' is returned.
   */
  push(piece: string): string {
    if (this.#stopped !== null) return '';
    const held = this.#held + piece;
    // The earliest-ending occurrence (ties: the earliest-starting one). Only `held` can contain one:
    // released text never ends inside a possible stop beginning.
    let best: { start: number; end: number; stop: string } | null = null;
    for (const s of this.stops) {
      const start = held.indexOf(s);
      if (start < 0) continue;
      const end = start + s.length;
      if (!best || end < best.end || (end === best.end && start < best.start)) best = { start, end, stop: s };
    }
    if (best) {
      // A shorter stop may end even earlier inside a later occurrence of another: indexOf found each
      // stop's first occurrence, which is also its earliest-ending one, so `best` is the minimum.
      this.#stopped = best.stop;
      this.#held = '';
      return held.slice(0, best.start);
    }
    const keep = this.#holdFrom(held);
    this.#held = held.slice(keep);
    return held.slice(0, keep);
  }

  /** Releases the held text (the stream ended without completing a stop). */
  flush(): string {
    const out = this.#held;
    this.#held = '';
    return out;
  }

  /** Smallest i such that text[i..] is a proper beginning of some stop string (text.length if none). */
  #holdFrom(text: string): number {
    const longest = this.stops.reduce((m, s) => Math.max(m, s.length - 1), 0);
    for (let i = Math.max(0, text.length - longest); i < text.length; i++) {
      const tail = text.slice(i);
      if (this.stops.some((s) => s.startsWith(tail))) return i;
    }
    return text.length;
  }
}
