// Guards a paged folder listing (E6) against a server that answers X-HasMoreData: True forever with the same page:
// the caller would ask for the next offset without end. A page that claims more but brings no item the previous
// page did not is a protocol error (comparing with one page back keeps this O(page size) for any folder size).
import { ProtocolError } from '../protocol/errors';

export class PagingProgress {
  private previous = new Set<string>();

  constructor(private readonly what: string) {}

  /** Call once per page, in order. */
  check(items: readonly { id: string }[], hasMore: boolean): void {
    const ids = new Set(items.map((i) => i.id));
    const fresh = [...ids].some((id) => !this.previous.has(id));
    this.previous = ids;
    if (hasMore && !fresh) {
      throw new ProtocolError(
        `${this.what}: X-HasMoreData: True but the page brings no new item (no progress)`,
      );
    }
  }
}
