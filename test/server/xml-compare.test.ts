// The golden comparison must itself catch differences, or every golden test would pass vacuously.
import { xmlDiff } from './xml-compare';

test('xmlDiff ignores whitespace but reports text, element and attribute differences', () => {
  expect(xmlDiff('<a><b>1</b></a>', '<a>\n  <b> 1 </b>\n</a>')).toEqual([]);
  expect(xmlDiff('<a><b>1</b></a>', '<a><b>2</b></a>')).toHaveLength(1);
  expect(xmlDiff('<a><b>1</b></a>', '<a><b>1</b><c/></a>')).toEqual(['/a[0]/c[1]: missing element']);
  expect(xmlDiff('<a><r name="x"/></a>', '<a><r name="y"/></a>')).toHaveLength(1);
  expect(xmlDiff('<a><b>1</b><c>2</c></a>', '<a><c>2</c><b>1</b></a>').length).toBeGreaterThan(0);
});
