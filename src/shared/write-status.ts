// The E8 per-item WriteStatus vocabulary (protocol digest §3.5): one definition for the server that answers it and
// the client that reads it.
export type WriteStatus =
  | 'Success'
  | 'Conflict'
  | 'NameConflict'
  | 'NotFound'
  | 'AccessDenied'
  | 'Locked'
  | 'QuotaExceeded'
  | 'InvalidName'
  | 'Failure';
