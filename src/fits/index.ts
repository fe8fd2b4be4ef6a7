/** FITS: a pure codec (no I/O, no labwire imports), for CCD frames and their headers. */
export { writeImage16, writeImage32, prepareImage, finishImage, BLOCK, type Image16, type Image32, type ImageLayout, type PreparedImage, type FinishTimings } from './write.js';
export { formatCard, formatReal, asciiText, CARD, type Card, type CardValue } from './cards.js';
export { onesSum, addSums, encodeChecksum } from './checksum.js';
export { readHeader, readImage, headerValue, FitsFormatError, type HeaderCard, type FitsHeader, type FitsImage } from './read.js';
