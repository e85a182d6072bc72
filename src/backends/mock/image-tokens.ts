import { imageSize } from "image-size";
import type { ImageDetail } from "../model-contract.js";

/**
 * Input tokens for an image, counted as OpenAI counts them for gpt-4o-class models: a "low"
 * detail image is 85 tokens; otherwise the image is scaled to fit 2048×2048, then down so its
 * shortest side is 768, and each 512-pixel tile costs 170 on top of the base 85.
 */

export interface ImageDimensions {
  readonly width: number;
  readonly height: number;
}

const BASE_TOKENS = 85;
const TOKENS_PER_TILE = 170;
const TILE_PX = 512;
const FIT_PX = 2048;
const SHORT_SIDE_PX = 768;

/** An image ferry cannot fetch (an http(s) URL, offline) is counted at this size. */
export const UNFETCHED_IMAGE_SIZE: ImageDimensions = Object.freeze({ width: 1024, height: 1024 });

export function imageTokens(size: ImageDimensions, detail: ImageDetail): number {
  if (detail === "low") {
    return BASE_TOKENS;
  }
  let { width, height } = size;
  const fit = Math.min(1, FIT_PX / Math.max(width, height));
  width = Math.floor(width * fit);
  height = Math.floor(height * fit);
  const shrink = Math.min(1, SHORT_SIDE_PX / Math.min(width, height));
  width = Math.floor(width * shrink);
  height = Math.floor(height * shrink);
  const tiles = Math.ceil(width / TILE_PX) * Math.ceil(height / TILE_PX);
  return BASE_TOKENS + TOKENS_PER_TILE * tiles;
}

/**
 * The size of the image at `url`: read from the bytes of a data URL (base64 or not), the
 * default size for an http(s) URL. Null when a data URL holds no image `image-size` knows.
 */
export function imageDimensionsOf(url: string): ImageDimensions | null {
  if (!url.startsWith("data:")) {
    return UNFETCHED_IMAGE_SIZE;
  }
  const comma = url.indexOf(",");
  if (comma < 0) {
    return null;
  }
  const header = url.slice(5, comma);
  const payload = url.slice(comma + 1);
  const bytes = header.endsWith(";base64")
    ? Buffer.from(payload, "base64")
    : Buffer.from(decodeURIComponent(payload), "latin1");
  try {
    const { width, height } = imageSize(bytes);
    return width > 0 && height > 0 ? { width, height } : null;
  } catch {
    return null;
  }
}
