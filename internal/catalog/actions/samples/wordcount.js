// wordCount counts the space-separated words of `payload`.
function main(params) {
  const str = params.payload;
  console.log("The payload is '" + str + "'");
  const count = str.split(' ').length;
  console.log("The message '" + str + "' has", count, 'words');
  return { count: count };
}
