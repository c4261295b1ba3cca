/**
 * Reads a V8 heap snapshot (`node:v8` `writeHeapSnapshot`) for what tests ask of the heap: how
 * long a list of reactions any one pending promise holds. A promise that never settles and gets
 * a `then` (or a `Promise.race` entry) per job keeps every one of them: a leak that grows with
 * each job and that no other test can see.
 *
 * @module
 */

interface Snapshot {
  snapshot: {
    meta: {
      node_fields: string[];
      node_types: [string[], ...unknown[]];
      edge_fields: string[];
      edge_types: [string[], ...unknown[]];
    };
  };
  nodes: number[];
  edges: number[];
  strings: string[];
}

/**
 * The most reactions any one promise in the snapshot waits with: the length of the longest list
 * of `PromiseReaction`s hanging from a promise.
 */
export function longestReactionList(snapshotJson: string): number {
  const s = JSON.parse(snapshotJson) as Snapshot;
  const { meta } = s.snapshot;
  const nodeWidth = meta.node_fields.length;
  const edgeWidth = meta.edge_fields.length;
  const nameAt = meta.node_fields.indexOf("name");
  const edgesAt = meta.node_fields.indexOf("edge_count");
  const toAt = meta.edge_fields.indexOf("to_node");
  const count = s.nodes.length / nodeWidth;
  const firstEdge = new Int32Array(count + 1);
  for (let i = 0, e = 0; i < count; i++) {
    firstEdge[i] = e;
    e += (s.nodes[i * nodeWidth + edgesAt] as number) * edgeWidth;
  }
  firstEdge[count] = s.edges.length;
  const name = (i: number) => s.strings[s.nodes[i * nodeWidth + nameAt] as number];
  const isReaction = (i: number) => name(i) === "system / PromiseReaction";
  const nextReaction = (i: number): number | undefined => {
    for (let e = firstEdge[i] as number; e < (firstEdge[i + 1] as number); e += edgeWidth) {
      const to = (s.edges[e + toAt] as number) / nodeWidth;
      if (isReaction(to)) return to;
    }
    return undefined;
  };
  let longest = 0;
  for (let i = 0; i < count; i++) {
    if (name(i) !== "Promise") continue;
    let length = 0;
    for (let at = nextReaction(i); at !== undefined; at = nextReaction(at)) length++;
    longest = Math.max(longest, length);
  }
  return longest;
}
