// helloWorld shows how an action logs: it writes "hello <payload>!" to
// stdout and returns nothing (an empty result).
function main(params) {
  console.log('hello', params.payload + '!');
}
