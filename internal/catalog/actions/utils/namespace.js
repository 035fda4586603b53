// namespace tells the namespace of the key that invoked it.
function main() {
  return { namespace: process.env.__OW_NAMESPACE };
}
