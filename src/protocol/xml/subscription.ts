// Codecs for E11 (wire contract): the `<Subscription>` request and answer, and the long-poll `<Notification>`.
import { ProtocolError } from '../errors';
import type { Subscription } from '../types';
import { escapeXml, wireTimestamp } from './write-items';
import { optionalText, parseTimestamp, requiredText } from './node';
import { parseXmlDocument } from './parser';

export function encodeSubscription(expires: Date, clientState?: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?><Subscription><NotificationUrl>longpoll</NotificationUrl>' +
    `<ExpirationDateTime>${wireTimestamp(expires)}</ExpirationDateTime>` +
    (clientState === undefined ? '' : `<ClientState>${escapeXml(clientState)}</ClientState>`) +
    '</Subscription>'
  );
}

export function encodeRenewal(expires: Date): string {
  return `<?xml version="1.0" encoding="utf-8"?><Subscription><ExpirationDateTime>${wireTimestamp(expires)}</ExpirationDateTime></Subscription>`;
}

/** `id` must be 32 hex; `channelUrl` absolute (resolved against `base` when relative); a missing ChannelUrl on a
 * renewal answer keeps `previousChannel`. */
export function decodeSubscription(body: string, base: string, previousChannel?: string): Subscription {
  const where = 'subscription';
  const node = parseXmlDocument(body, 'Subscription', where);
  const id = requiredText(node, 'SubscriptionId', where).trim().toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(id.replace(/-/g, '')))
    throw new ProtocolError(`${where}: SubscriptionId is not a GUID`);
  const expires = parseTimestamp(
    requiredText(node, 'ExpirationDateTime', where),
    'ExpirationDateTime',
    where,
  );
  const rawChannel = optionalText(node, 'ChannelUrl', where)?.trim() ?? previousChannel;
  if (rawChannel === undefined) throw new ProtocolError(`${where}: missing required element <ChannelUrl>`);
  let channelUrl: string;
  try {
    channelUrl = new URL(rawChannel, `${base}/`).toString();
  } catch (err) {
    throw new ProtocolError(`${where}: ChannelUrl is not a URL`, { cause: err });
  }
  return { id: id.replace(/-/g, ''), expires, channelUrl };
}

export interface Notification {
  listId: string;
  subscriptionId: string;
  clientState: string | undefined;
}

export function decodeNotification(body: string): Notification {
  const where = 'notification';
  const node = parseXmlDocument(body, 'Notification', where);
  return {
    listId: requiredText(node, 'ListId', where).trim(),
    subscriptionId: requiredText(node, 'SubscriptionId', where).trim(),
    clientState: optionalText(node, 'ClientState', where),
  };
}
