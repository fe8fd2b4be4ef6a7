/// <reference lib="dom" />
/**
 * The images panel on the card of an image source (a device whose describe lists `image_info`):
 * progress of the running exposure from the device's live values, the shown frame drawn on a
 * canvas from its pixels (zscale or asinh), its histogram, its header (folded, filterable),
 * and the device's recent images with FITS downloads. A new image announced on the live stream
 * is listed at once and, while the newest image is shown, shown in its place.
 */
import { h, type ComponentChild } from 'preact';
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import type { PeerValue } from '../../monitor/types.js';
import type { DeviceView } from '../views.js';
import { ApiError } from './api.js';
import { errorText } from './forms.js';
import { fmtDateTime, fmtValue, slug } from './format.js';
import {
  STRETCHES,
  displayLimits,
  histogram,
  histogramPosition,
  logHeights,
  toGrey,
  type Histogram,
  type Limits,
  type PixelFrame,
  type StretchName,
} from './image-math.js';
import { fitsUrl, getImage, getPixels, listImages, type HeaderCard, type ImageDetail, type ImageRecord } from './images-api.js';
import { live } from './live.js';

const NO_INDEX = 'This monitor keeps no image index (it has no archive): images are not listed here.';

/** Images listed per device (the newest first). */
export const RECENT_IMAGES = 20;

/** A device whose describe lists the command `image_info` takes images. */
export function isImageSource(d: Pick<DeviceView, 'describe'>): boolean {
  return d.describe?.commands.image_info !== undefined;
}

const num = (v: PeerValue | undefined): number | undefined => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);

export interface ExposureProgressView {
  phase: string;
  /** 0…1, or undefined while the step has no measure (fetching, writing). */
  fraction: number | undefined;
  text: string;
}

/** What the progress bar shows for the device's live values; null while idle or unknown. */
export function exposureProgress(values: Record<string, PeerValue>): ExposureProgressView | null {
  const phase = values.phase;
  if (typeof phase !== 'string' || phase === '' || phase === 'idle') return null;
  const stateText = typeof values.state_text === 'string' && values.state_text !== '' ? values.state_text : undefined;
  const clamp = (x: number): number => Math.min(1, Math.max(0, x));
  if (phase === 'exposing') {
    const elapsed = num(values.exposure_elapsed);
    const total = num(values.exposure_time);
    const fraction = elapsed !== undefined && total !== undefined && total > 0 ? clamp(elapsed / total) : undefined;
    const text = stateText ?? (elapsed !== undefined && total !== undefined ? `exposing ${fmtValue(elapsed)} of ${fmtValue(total)} s` : 'exposing');
    return { phase, fraction, text };
  }
  if (phase === 'reading_out') {
    const pct = num(values.readout_percent);
    return { phase, fraction: pct === undefined ? undefined : clamp(pct / 100), text: stateText ?? (pct === undefined ? 'reading out' : `reading out ${Math.round(pct)} %`) };
  }
  return { phase, fraction: undefined, text: stateText ?? phase.replace(/_/g, ' ') };
}

function ExposureProgress(props: { id: string; values: Record<string, PeerValue> }): ComponentChild {
  const p = exposureProgress(props.values);
  const lastError = typeof props.values.last_error === 'string' ? props.values.last_error : '';
  return h('div', { class: 'img-progress', 'data-testid': `image-progress-${props.id}`, 'data-phase': p?.phase ?? 'idle', 'aria-live': 'polite' }, [
    p
      ? h('div', { class: 'row' }, [
          h('progress', { max: 1, ...(p.fraction !== undefined ? { value: p.fraction } : {}), 'aria-label': p.text }),
          h('span', { class: 'img-progress-text' }, p.text),
        ])
      : h('span', { class: 'muted small' }, 'no exposure running'),
    lastError ? h('p', { class: 'err small', 'data-testid': `image-last-error-${props.id}` }, `last exposure failed: ${lastError}`) : null,
  ]);
}

/** The frame on a canvas at its own resolution (decimated above 2048 px); CSS scales it to the card. */
function FrameCanvas(props: { id: string; image: ImageRecord; frame: PixelFrame; limits: Limits; stretch: StretchName }): ComponentChild {
  const ref = useRef<HTMLCanvasElement>(null);
  const [drawn, setDrawn] = useState<{ id: number; stretch: StretchName } | null>(null);
  const [probe, setProbe] = useState('');
  const { frame, limits, stretch, image } = props;
  useEffect(() => {
    const canvas = ref.current;
    if (!canvas) return;
    const grey = toGrey(frame.pixels, frame.width, frame.height, limits, stretch);
    canvas.width = grey.width;
    canvas.height = grey.height;
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    ctx.putImageData(new ImageData(grey.rgba, grey.width, grey.height), 0, 0);
    setDrawn({ id: image.id, stretch });
  }, [frame, limits, stretch, image.id]);
  const onMove = (e: MouseEvent): void => {
    const canvas = ref.current;
    if (!canvas) return;
    const r = canvas.getBoundingClientRect();
    const x = Math.floor(((e.clientX - r.left) / r.width) * frame.width);
    const yTop = Math.floor(((e.clientY - r.top) / r.height) * frame.height);
    if (x < 0 || x >= frame.width || yTop < 0 || yTop >= frame.height) return;
    // FITS row 1 is at the bottom; FITS pixel numbers start at 1.
    const y = frame.height - 1 - yTop;
    setProbe(`x ${x + 1}, y ${y + 1}: ${frame.pixels[y * frame.width + x]}`);
  };
  return h('div', { class: 'img-view' }, [
    h('canvas', {
      ref,
      class: 'img-canvas',
      role: 'img',
      'aria-label': `${describeImage(image)} (${image.device}), ${image.width} × ${image.height}, ${stretch} stretch`,
      'data-testid': `image-canvas-${props.id}`,
      'data-image-id': drawn ? String(drawn.id) : '',
      'data-stretch': drawn?.stretch ?? '',
      onMouseMove: onMove,
      onMouseLeave: () => setProbe(''),
    }),
    h('div', { class: 'img-probe muted small', 'aria-hidden': 'true' }, probe || '\u00a0'),
  ]);
}

function HistogramCanvas(props: { id: string; hist: Histogram; limits: Limits }): ComponentChild {
  const ref = useRef<HTMLCanvasElement>(null);
  const { hist, limits } = props;
  useEffect(() => {
    const canvas = ref.current;
    const ctx = canvas?.getContext('2d');
    if (!canvas || !ctx) return;
    const W = canvas.width;
    const H = canvas.height;
    ctx.clearRect(0, 0, W, H);
    ctx.fillStyle = '#f8f9fb';
    ctx.fillRect(0, 0, W, H);
    const heights = logHeights(hist.counts);
    const n = heights.length;
    ctx.fillStyle = '#6b7380';
    for (let i = 0; i < n; i++) {
      const x0 = Math.floor((i / n) * W);
      const x1 = Math.max(x0 + 1, Math.floor(((i + 1) / n) * W));
      const bar = Math.round(heights[i]! * (H - 2));
      ctx.fillRect(x0, H - bar, x1 - x0, bar);
    }
    ctx.fillStyle = '#2f6fd6';
    for (const v of [limits.vmin, limits.vmax]) ctx.fillRect(Math.min(W - 2, Math.round(histogramPosition(hist, v) * W)), 0, 2, H);
  }, [hist, limits]);
  const hi = hist.lo + hist.counts.length * hist.binWidth - 1;
  return h('figure', { class: 'img-hist' }, [
    h('canvas', { ref, width: 512, height: 96, role: 'img', 'aria-label': `histogram of pixel values ${hist.lo} to ${hi}, log counts; display limits marked`, 'data-testid': `image-hist-${props.id}`, 'data-bins': String(hist.counts.length) }),
    h('figcaption', { class: 'muted small row' }, [h('span', null, String(hist.lo)), h('span', { class: 'spacer' }), h('span', null, 'log counts'), h('span', { class: 'spacer' }), h('span', null, String(hi))]),
  ]);
}

function cardValue(c: HeaderCard): string {
  if (c.value === undefined || c.value === null) return '';
  if (typeof c.value === 'boolean') return c.value ? 'T' : 'F';
  return String(c.value);
}

/** The header, folded; a filter keeps the cards whose key, value or comment contain the text. */
function HeaderView(props: { id: string; header: HeaderCard[] }): ComponentChild {
  const [filter, setFilter] = useState('');
  const f = filter.trim().toLowerCase();
  const shown = f ? props.header.filter((c) => `${c.key}\u0000${cardValue(c)}\u0000${c.comment ?? ''}`.toLowerCase().includes(f)) : props.header;
  return h('details', { class: 'img-header', 'data-testid': `image-header-${props.id}` }, [
    h('summary', null, `Header (${props.header.length} cards)`),
    h('div', { class: 'row img-filter' }, [
      h('input', { type: 'search', placeholder: 'filter: key, value or comment', 'aria-label': 'filter header cards', value: filter, onInput: (e: Event) => setFilter((e.target as HTMLInputElement).value), 'data-testid': `image-header-filter-${props.id}` }),
      h('span', { class: 'muted small' }, f ? `${shown.length} of ${props.header.length}` : ''),
    ]),
    h('div', { class: 'img-cards' }, [
      h('table', { class: 'img-cards-table', 'aria-label': 'FITS header cards' }, [
        h('tbody', null, shown.map((c, i) =>
          h('tr', { key: `${i}-${c.key}` }, [
            h('th', { scope: 'row' }, c.key),
            h('td', { class: 'v' }, cardValue(c)),
            h('td', { class: 'muted' }, c.comment ?? ''),
          ]),
        )),
      ]),
    ]),
  ]);
}

/** `frame 12 · dark · 1.5 s · M42`, leaving out what the daemon did not say. */
export function describeImage(im: ImageRecord): string {
  const parts = [im.frame !== null ? `frame ${im.frame}` : (im.path.split('/').pop() ?? im.path)];
  if (im.type) parts.push(im.type);
  if (im.exptime !== null) parts.push(`${fmtValue(im.exptime)} s`);
  if (im.object) parts.push(im.object);
  return parts.join(' · ');
}

function RecentList(props: { id: string; images: ImageRecord[]; shown: number | undefined; onShow: (id: number) => void }): ComponentChild {
  if (props.images.length === 0) return h('p', { class: 'muted small', 'data-testid': `image-list-${props.id}` }, 'No images yet.');
  return h('ol', { class: 'img-list', 'data-testid': `image-list-${props.id}` }, props.images.map((im) =>
    h('li', { key: im.id, class: im.id === props.shown ? 'current' : '', 'data-image-id': String(im.id) }, [
      h('button', { type: 'button', class: 'link', 'aria-pressed': im.id === props.shown ? 'true' : 'false', onClick: () => props.onShow(im.id), title: im.path }, describeImage(im)),
      h('time', { class: 'muted small', dateTime: new Date(im.t).toISOString() }, fmtDateTime(im.t, true)),
      h('a', { class: 'csv small', href: fitsUrl(im.id), download: '', 'data-testid': `image-fits-${props.id}-${im.id}` }, 'FITS'),
    ]),
  ));
}

/**
 * Frames above this many pixels are not drawn (the FITS download stays): their pixels would cost
 * the browser hundreds of MiB. A 4096 × 4096 frame (16.8 Mpx) is drawn.
 */
export const MAX_SHOWN_PIXELS = 36_000_000;

/** Whether the page draws a frame of this size. */
export function drawable(im: Pick<ImageRecord, 'width' | 'height'>): boolean {
  return im.width * im.height <= MAX_SHOWN_PIXELS;
}

interface LoadedImage {
  detail: ImageDetail | null;
  /** null while loading, or when the frame is too large to draw. */
  frame: PixelFrame | null;
  error: string;
  loading: boolean;
}

/** The header and pixels of one image, loaded when it is shown (the pixels only if drawable). */
function useImage(id: number | undefined, record: ImageRecord | undefined): LoadedImage {
  const [state, setState] = useState<{ id: number | undefined; detail: ImageDetail | null; frame: PixelFrame | null; error: string }>({ id: undefined, detail: null, frame: null, error: '' });
  const pixelsWanted = record === undefined || drawable(record);
  useEffect(() => {
    if (id === undefined) return undefined;
    const ctrl = new AbortController();
    Promise.all([getImage(id, ctrl.signal), pixelsWanted ? getPixels(id, ctrl.signal) : Promise.resolve(null)])
      .then(([detail, frame]) => setState({ id, detail, frame: frame && drawable(frame) ? frame : null, error: '' }))
      .catch((err: Error) => {
        if (err.name !== 'AbortError') setState((s) => ({ ...s, id, error: `image ${id}: ${errorText(err)}` }));
      });
    return () => ctrl.abort();
  }, [id, pixelsWanted]);
  return { detail: state.detail, frame: state.frame, error: state.error, loading: id !== undefined && state.id !== id };
}

export function ImagesPanel(props: { device: string; connected: boolean; values: Record<string, PeerValue> }): ComponentChild {
  const { device } = props;
  const id = slug(device);
  const [images, setImages] = useState<ImageRecord[]>([]);
  const [listError, setListError] = useState('');
  /** The image the user picked; undefined: follow the newest. */
  const [picked, setPicked] = useState<number | undefined>(undefined);
  const [stretch, setStretch] = useState<StretchName>('zscale');

  // The list, at start, after each reconnection of the device and after each new snapshot (the
  // stream reconnected: image events sent while it was down are lost).
  const [listTick, setListTick] = useState(0);
  useEffect(() => live.onSnapshot(() => setListTick((n) => n + 1)), []);
  useEffect(() => {
    const ctrl = new AbortController();
    listImages(device, RECENT_IMAGES, ctrl.signal)
      .then((list) => {
        // Merge: an image event may have arrived while the list was on its way.
        setImages((prev) => mergeImages(prev, list));
        setListError('');
      })
      .catch((err: Error) => {
        if (err.name === 'AbortError') return;
        // A monitor without an archive keeps no image index: say so plainly, it is no fault.
        setListError(err instanceof ApiError && (err.code === 'NoArchive' || err.code === 'NoImageIndex') ? NO_INDEX : `recent images: ${errorText(err)}`);
      });
    return () => ctrl.abort();
  }, [device, props.connected, listTick]);

  useEffect(() => live.onImage((im) => {
    if (im.device === device) setImages((prev) => mergeImages(prev, [im]));
  }), [device]);

  const shownId = picked ?? images[0]?.id;
  const { detail, frame, error, loading } = useImage(shownId, images.find((im) => im.id === shownId));
  const limits = useMemo(() => (frame ? displayLimits(frame.pixels, stretch) : null), [frame, stretch]);
  const hist = useMemo(() => (frame ? histogram(frame.pixels) : null), [frame]);
  const image = detail?.image;
  const following = picked === undefined || picked === images[0]?.id;
  // What is drawn: the frame with its limits, or (too large to draw) only what describes it.
  const drawn = image && frame && limits && frame.width === image.width && frame.height === image.height ? { frame, limits } : null;
  const tooLarge = image && !drawable(image) ? image : null;

  return h('section', { class: 'images', 'aria-label': `${device} images`, 'data-testid': `images-${id}` }, [
    h('h3', null, 'Images'),
    h(ExposureProgress, { id, values: props.values }),
    // Two columns when the card is wide (the frame, then what describes it), one on a phone.
    h('div', { class: 'img-body' }, [
      h('div', { class: 'img-main' }, [
        image && (drawn || tooLarge)
          ? [
              h('div', { class: 'row wrap img-tools' }, [
                drawn ? h('label', { for: `img-stretch-${id}` }, 'Stretch') : null,
                drawn
                  ? h('select', { id: `img-stretch-${id}`, value: stretch, 'data-testid': `image-stretch-${id}`, onChange: (e: Event) => setStretch((e.target as HTMLSelectElement).value as StretchName) },
                      STRETCHES.map((s) => h('option', { value: s }, s)))
                  : null,
                drawn ? h('span', { class: 'muted small', title: 'display limits' }, `${fmtValue(drawn.limits.vmin)} … ${fmtValue(drawn.limits.vmax)}`) : null,
                h('span', { class: 'spacer' }),
                following ? null : h('button', { type: 'button', onClick: () => setPicked(undefined) }, 'Show newest'),
                h('a', { class: 'csv', href: fitsUrl(image.id), download: '', 'data-testid': `image-download-${id}` }, 'Download FITS'),
              ]),
              drawn
                ? h(FrameCanvas, { id, image, frame: drawn.frame, limits: drawn.limits, stretch })
                : h('p', { class: 'img-too-large muted', 'data-testid': `image-too-large-${id}` },
                    `This frame is ${image.width} × ${image.height} (${Math.round((image.width * image.height * image.bitpix) / 8 / 1048576)} MiB of pixels): too large to draw in the page. Download the FITS file to look at it.`),
              h('p', { class: 'img-caption small', 'data-testid': `image-caption-${id}` }, [
                h('strong', null, describeImage(image)),
                ` · ${image.width} × ${image.height} · ${fmtDateTime(image.t, true)} · min ${fmtValue(image.min)} max ${fmtValue(image.max)} mean ${fmtValue(image.mean)} median ${fmtValue(image.median)}`,
              ]),
            ]
          : shownId !== undefined && !error
            ? h('p', { class: 'muted small' }, 'loading image…')
            : null,
        loading && image ? h('p', { class: 'muted small' }, 'loading the next image…') : null,
        error ? h('p', { class: 'err small', role: 'alert', 'data-testid': `image-error-${id}` }, error) : null,
        listError ? h('p', { class: listError === NO_INDEX ? 'muted small' : 'err small', role: listError === NO_INDEX ? undefined : 'alert', 'data-testid': `image-list-error-${id}` }, listError) : null,
      ]),
      h('div', { class: 'img-side' }, [
        drawn && hist ? h(HistogramCanvas, { id, hist, limits: drawn.limits }) : null,
        detail && image ? h(HeaderView, { id, header: detail.header }) : null,
        h('h3', null, 'Recent'),
        h(RecentList, { id, images, shown: image?.id ?? shownId, onShow: (n) => setPicked(n === images[0]?.id ? undefined : n) }),
      ]),
    ]),
  ]);
}

/** Newest first, each image once, at most RECENT_IMAGES. */
export function mergeImages(a: readonly ImageRecord[], b: readonly ImageRecord[]): ImageRecord[] {
  const byId = new Map<number, ImageRecord>();
  for (const im of [...a, ...b]) byId.set(im.id, im);
  return [...byId.values()].sort((x, y) => y.t - x.t || y.id - x.id).slice(0, RECENT_IMAGES);
}
