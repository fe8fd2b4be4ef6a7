/// <reference lib="dom" />
/**
 * The page's side of the image routes (contract of issue 12, §3): the list of recent images of a
 * device, one image's record and header, its pixels as 16-bit values, the FITS download.
 */
import { ApiError, api, notifyUnauthorized, query } from './api.js';
import type { ImageRecord } from '../../archive/types.js';
import type { HeaderCard } from '../../fits/read.js';
import { parsePixels, type PixelFrame } from './image-math.js';

/** One indexed image (numbers are null where the daemon did not say; `t` is the exposure start, unix ms). */
export type { ImageRecord } from '../../archive/types.js';
/** A header card as the monitor's FITS reader gives it (COMMENT and HISTORY: the text as value). */
export type { HeaderCard } from '../../fits/read.js';

export interface ImageDetail {
  image: ImageRecord;
  header: HeaderCard[];
}

export async function listImages(device: string, limit: number, signal?: AbortSignal): Promise<ImageRecord[]> {
  const r = await api<{ images: ImageRecord[] }>(`/api/images?${query({ device, limit })}`, signal ? { signal } : {});
  return r.images;
}

export function getImage(id: number, signal?: AbortSignal): Promise<ImageDetail> {
  return api<ImageDetail>(`/api/images/${id}`, signal ? { signal } : {});
}

export function fitsUrl(id: number): string {
  return `/api/images/${id}/fits`;
}

/** The frame's pixels; HTTP and JSON errors become ApiError like the rest of the API. */
export async function getPixels(id: number, signal?: AbortSignal): Promise<PixelFrame> {
  let res: Response;
  try {
    res = await fetch(`/api/images/${id}/pixels`, { credentials: 'same-origin', headers: { accept: 'application/octet-stream' }, ...(signal ? { signal } : {}) });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'NetworkError', 'the monitor cannot be reached');
  }
  if (!res.ok) {
    let b: { code?: string; message?: string } = {};
    try {
      b = (await res.json()) as typeof b;
    } catch {
      // Not JSON: the status line says enough.
    }
    if (res.status === 401) notifyUnauthorized();
    throw new ApiError(res.status, b.code ?? `HTTP${res.status}`, b.message ?? res.statusText);
  }
  return parsePixels(await res.arrayBuffer(), res.headers);
}
