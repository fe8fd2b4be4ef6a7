/**
 * The delaying-proxy scenario at length (issue 10 §1): over a thousand requests per family, a share
 * of the replies held back around the reply timeout, and not one wrong value published, not one
 * reply taken for another request's, every set confirmed by its own read-back.
 */
import { describe, expect, it } from 'vitest';
import { delaysAround, runLateReplyScenario, type LateReplySubject } from '../../src/testing/conformance/late-replies.js';

const REQUESTS = Number(process.env.LATE_REPLY_REQUESTS ?? 1000);

/** One family's run; each family has its own test file so that the runs go on side by side. */
export function lateReplyEndurance(name: string, subject: LateReplySubject): void {
  describe('late replies through a delaying proxy', () => {
    it(`${name}: no wrong value over ${REQUESTS} requests`, async () => {
      const report = await runLateReplyScenario(subject, {
        seed: 1000 + name.length,
        requests: REQUESTS,
        delay: delaysAround(subject.exchange.timeoutMs!),
        // Room between sets, so a late poll reply meets the next poll too, not only a set.
        setEveryMs: 150,
        deadlineMs: 150_000,
      });
      process.stdout.write(
        `[figure] late replies, ${name}: ${report.requests} requests, ${report.lateReplies} replies later than the timeout, ` +
          `${report.published} values checked, ${report.sets.ok} sets confirmed (${report.sets.failed} failed), ` +
          `wrong: ${report.wrongValues.length} values, ${report.wrongPairs.length} pairs, ${report.wrongSets.length} sets, ${Math.round(report.elapsedMs / 1000)} s\n`,
      );
      expect(report.requests).toBeGreaterThanOrEqual(REQUESTS);
      expect(report.lateReplies).toBeGreaterThan(0);
      expect(report.wrongPairs.slice(0, 5)).toEqual([]);
      expect(report.wrongValues.slice(0, 5)).toEqual([]);
      expect(report.wrongSets.slice(0, 5)).toEqual([]);
      expect(report.sets.ok).toBeGreaterThan(0);
    }, 200_000);
  });
}
