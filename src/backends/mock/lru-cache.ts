// The LRU moved to src/lib (the schema checks use it too); kept here for existing importers.
export { createLruCache, type LruCache } from "../../lib/lru-cache.js";
