/**
 * The start-up error of a store that cannot be opened or read.
 *
 * @module
 */

/** Options of a {@linkcode StoreOpenError}. */
export interface StoreOpenErrorOptions extends ErrorOptions {
  /** What the user can do about it; by default, how to start with another store. */
  advice?: string;
}

/** Thrown when the store cannot be opened or read: a clear start-up error, never an empty store. */
export class StoreOpenError extends Error {
  /** The database file. */
  readonly path: string;
  /** Creates the error for the file at `path`. */
  constructor(path: string, reason: string, options: StoreOpenErrorOptions = {}) {
    const {
      advice = "Move the file aside to start with an empty store, point DATA_DIR elsewhere, or " +
        "run with --store=memory",
      ...errorOptions
    } = options;
    super(`Cannot open the job store at ${path}: ${reason}. ${advice}.`, errorOptions);
    this.name = "StoreOpenError";
    this.path = path;
  }
}
