// cat joins the strings (or numbers) of `lines` into `payload`, one per
// line, as the unix command does; everything else is dropped.
function main(params) {
  const lines = params.lines || [];
  const result = { lines: lines, payload: lines.join('\n') };
  console.log('cat: returning ' + JSON.stringify(result));
  return result;
}
