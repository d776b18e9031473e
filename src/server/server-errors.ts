// Typed errors of the reference server; the HTTP layer maps each code to a status and a SharePoint error body.
import { SpfsError } from '../shared/errors';

export class ItemNotFoundError extends SpfsError {
  constructor(id: string) {
    super('ESERVER_NOTFOUND', `item not found: ${id}`);
  }
}

export class NameConflictError extends SpfsError {
  constructor(name: string) {
    super('ESERVER_NAMECONFLICT', `an item with this name already exists: ${JSON.stringify(name)}`);
  }
}

/** A request the server can answer only with an HTTP error status (bad query, wrong method...). */
export class HttpError extends SpfsError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('ESERVER_HTTP', message);
  }
}
