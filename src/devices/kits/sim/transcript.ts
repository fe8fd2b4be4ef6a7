/** The last requests and replies of a simulator, oldest first, bounded so a long run cannot grow it. */
export class Transcript<T> {
  private readonly entries: T[] = [];

  constructor(readonly limit = 1000) {}

  push(entry: T): void {
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.shift();
  }

  /** A copy, oldest first. */
  get all(): readonly T[] {
    return [...this.entries];
  }

  get length(): number {
    return this.entries.length;
  }
}
