/** The STA Archon family: codec, driver, exposures, FITS files, daemon definition (the simulator loads lazily). */
export * from './codec.js';
export { ArchonDriver, ControllerRefused, DEFAULT_TIMEOUT_MS, archonExchangeOptions, archonSplitter, takeMessageId, type CommandOptions, type FetchResult } from './driver.js';
export { Exposure, MAX_COUNT, PHASES, type ExposeRequest, type ExposureSettings, type LastImage, type Phase } from './exposure.js';
export { IMAGE_TYPES, imageCards, imagePath, imageStats, readImageInfo, resolveImage, writeImageFile, type ImageInfo, type ImageMeta, type ImageStats, type ImageType } from './image-file.js';
export { DECLARED_SLOTS, archonDevice, archonFamily, archonOptionsSchema, archonParams, frameValues, statusValues, systemValues, type ArchonHandle, type ArchonOptions } from './device.js';
