/**
 * A fresh folder under `.test-output/` (the tests may write only inside the project), removed
 * when the returned handle is disposed.
 *
 * @module
 */

/** A temporary folder that removes itself. */
export interface TestDir extends AsyncDisposable {
  /** Its path. */
  readonly path: string;
}

/** Creates a temporary folder under `.test-output/` named after `prefix`. */
export async function makeTestDir(prefix: string): Promise<TestDir> {
  await Deno.mkdir(".test-output", { recursive: true });
  const path = await Deno.makeTempDir({ dir: ".test-output", prefix: `${prefix}-` });
  return {
    path,
    [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }).catch(() => {}),
  };
}
