/**
 * A map bounded to `maxEntries` that forgets the least recently used entry first. A Map iterates
 * in insertion order, so re-inserting an entry makes it the newest.
 *
 * Re-inserting on every hit costs a delete and a set on the hot path, so a hit re-inserts only
 * an entry in the older half (more than maxEntries/2 writes old). An entry is evicted only once
 * maxEntries writes have passed it, so anything read within the last maxEntries/2 writes is
 * never the one evicted: least recently used, to within half the capacity.
 */
export interface LruCache<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
}

interface Entry<V> {
  readonly value: V;
  /** The write count when it was last (re-)inserted. */
  stamp: number;
}

export function createLruCache<K, V>(maxEntries: number): LruCache<K, V> {
  const entries = new Map<K, Entry<V>>();
  let writes = 0;
  const refreshAge = Math.max(1, Math.floor(maxEntries / 2));

  function insert(key: K, entry: Entry<V>): void {
    entries.delete(key);
    entry.stamp = writes++;
    entries.set(key, entry);
    if (entries.size > maxEntries) {
      const oldest = entries.keys().next();
      if (oldest.done !== true) {
        entries.delete(oldest.value);
      }
    }
  }

  return {
    get(key) {
      const entry = entries.get(key);
      if (entry === undefined) {
        return undefined;
      }
      if (writes - entry.stamp > refreshAge) {
        insert(key, entry);
      }
      return entry.value;
    },
    set(key, value) {
      insert(key, { value, stamp: 0 });
    },
  };
}
