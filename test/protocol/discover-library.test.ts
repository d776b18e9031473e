// Accepted mount URL forms: server origin, personal/team site, library URL (and a view of it), against a
// stand-in that answers GetList (simulated server: the reference server has no GetList endpoint).
import { libraryWebUrl, parseStartUrl } from '../../src/protocol/discover-library';
import { SpClient } from '../../src/protocol/sp-client';
import { startFakeSpServer } from './fake-sp-server';

describe('parseStartUrl', () => {
  test.each([
    ['https://sp.example.com/', { base: 'https://sp.example.com', isOrigin: true }],
    [
      'https://sp.example.com/personal/alice/',
      { base: 'https://sp.example.com/personal/alice', isOrigin: false },
    ],
    ['https://sp.example.com/sites/team', { base: 'https://sp.example.com/sites/team', isOrigin: false }],
    [
      'https://sp.example.com/sites/team/Shared%20Documents/Forms/AllItems.aspx',
      {
        base: 'https://sp.example.com/sites/team',
        isOrigin: false,
        libraryPath: '/sites/team/Shared Documents',
      },
    ],
    [
      'https://sp.example.com/teams/x/Lib/Sub',
      { base: 'https://sp.example.com/teams/x', isOrigin: false, libraryPath: '/teams/x/Lib/Sub' },
    ],
    [
      'https://sp.example.com/sites/team/_layouts/15/start.aspx',
      { base: 'https://sp.example.com/sites/team', isOrigin: false },
    ],
  ])('%s', (url, expected) => {
    expect(parseStartUrl(url)).toEqual(expected);
  });
});

test('a library URL resolves its list through GetList (simulated server)', async () => {
  const listId = 'aaaaaaaabbbbccccddddeeeeeeeeeeee';
  const server = await startFakeSpServer((req, res) => {
    const url = decodeURIComponent(req.url ?? '');
    if (url.includes("/sites/team/_api/web/GetList(@u)/Id?@u='/sites/team/Team''s Docs'")) {
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ d: { Id: listId } }));
    } else res.writeHead(404).end();
  });
  try {
    const client = await SpClient.connect({
      url: `${server.origin}/sites/team/Team's%20Docs/Forms/AllItems.aspx`,
    });
    expect(client.library).toMatchObject({ siteUrl: `${server.origin}/sites/team`, listId });
    await client.close();
  } finally {
    await server.close();
  }
});

describe('libraryWebUrl (the base of user.spfs.url)', () => {
  it.each([
    [
      'a personal site: its Documents library',
      'https://h/personal/alice',
      'https://h/personal/alice',
      'https://h/personal/alice/Documents',
    ],
    [
      'a server URL, via the personal site found',
      'https://h',
      'https://h/personal/alice/',
      'https://h/personal/alice/Documents',
    ],
    [
      'a team site: Shared Documents',
      'https://h/sites/team',
      'https://h/sites/team',
      'https://h/sites/team/Shared%20Documents',
    ],
    [
      'a library URL as given',
      'https://h/sites/team/Project%20Files/Forms/AllItems.aspx',
      'https://h/sites/team',
      'https://h/sites/team/Project%20Files',
    ],
  ])('%s', (_what, mountUrl, siteUrl, expected) => {
    expect(libraryWebUrl(mountUrl, siteUrl)).toBe(expected);
  });
});
