import { describe, expect, it } from 'vitest';
import { MAX_SHOWN_PIXELS, RECENT_IMAGES, describeImage, drawable, exposureProgress, isImageSource, mergeImages } from './images.js';
import type { ImageRecord } from './images-api.js';

const rec = (id: number, t: number): ImageRecord => ({ id, t, device: 'ccd', path: `/d/f${id}.fits`, frame: id, exptime: 1, type: 'dark', object: '', width: 2, height: 2, bitpix: 16, bytes: 5760, min: 0, max: 1, mean: 0.5, median: 0.5 });

describe('the images panel logic', () => {
  it('knows an image source by the command image_info in its describe', () => {
    const cmd = { description: '', write: false, args: {} };
    expect(isImageSource({ describe: { name: 'ccd', type: 'archon', title: '', protocol: 'labwire/1', version: '', readOnly: false, params: {}, commands: { image_info: cmd } } })).toBe(true);
    expect(isImageSource({ describe: { name: 'x', type: 'julabo', title: '', protocol: 'labwire/1', version: '', readOnly: false, params: {}, commands: { start: cmd } } })).toBe(false);
    expect(isImageSource({ describe: null })).toBe(false);
  });

  it('shows progress while exposing and reading out, an indeterminate bar after, nothing when idle', () => {
    expect(exposureProgress({ phase: 'idle' })).toBeNull();
    expect(exposureProgress({})).toBeNull();
    expect(exposureProgress({ phase: 'exposing', exposure_elapsed: 2.5, exposure_time: 10 })).toEqual({ phase: 'exposing', fraction: 0.25, text: 'exposing 2.5 of 10 s' });
    expect(exposureProgress({ phase: 'exposing', exposure_elapsed: 12, exposure_time: 10, state_text: 'exposing 12 of 10 s' })).toEqual({ phase: 'exposing', fraction: 1, text: 'exposing 12 of 10 s' });
    // A zero-second exposure (bias) has no fraction to show.
    expect(exposureProgress({ phase: 'exposing', exposure_elapsed: 0, exposure_time: 0 })?.fraction).toBeUndefined();
    expect(exposureProgress({ phase: 'reading_out', readout_percent: 40 })).toEqual({ phase: 'reading_out', fraction: 0.4, text: 'reading out 40 %' });
    expect(exposureProgress({ phase: 'reading_out', readout_percent: null })).toEqual({ phase: 'reading_out', fraction: undefined, text: 'reading out' });
    expect(exposureProgress({ phase: 'fetching', state_text: 'fetching frame 12' })).toEqual({ phase: 'fetching', fraction: undefined, text: 'fetching frame 12' });
    expect(exposureProgress({ phase: 'writing' })).toEqual({ phase: 'writing', fraction: undefined, text: 'writing' });
  });

  it('describes an image by what the daemon said of it', () => {
    expect(describeImage({ ...rec(12, 0), exptime: 1.5, object: 'M42' })).toBe('frame 12 · dark · 1.5 s · M42');
    expect(describeImage({ ...rec(12, 0), frame: null, exptime: null, type: '' })).toBe('f12.fits');
  });

  it('draws a 4096 × 4096 frame but not a 19200 × 9400 mosaic', () => {
    expect(drawable({ width: 4096, height: 4096 })).toBe(true);
    expect(drawable({ width: 19200, height: 9400 })).toBe(false);
    expect(drawable({ width: MAX_SHOWN_PIXELS, height: 1 })).toBe(true);
  });

  it('lists each image once, newest first, at most the recent count', () => {
    expect(mergeImages([rec(2, 20), rec(1, 10)], [rec(3, 30), rec(2, 20)]).map((r) => r.id)).toEqual([3, 2, 1]);
    const many = Array.from({ length: 30 }, (_, i) => rec(i + 1, (i + 1) * 10));
    const merged = mergeImages([], many);
    expect(merged.length).toBe(RECENT_IMAGES);
    expect(merged[0]!.id).toBe(30);
    // Same start time: the later id first.
    expect(mergeImages([rec(1, 5)], [rec(2, 5)]).map((r) => r.id)).toEqual([2, 1]);
  });
});
