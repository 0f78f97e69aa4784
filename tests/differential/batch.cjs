// Reads a JSON list on stdin, answers each item with `one` (async), prints the answers as JSON.
module.exports = function batch(one) {
  let input = "";
  process.stdin.on("data", (chunk) => (input += chunk));
  process.stdin.on("end", async () => {
    const out = [];
    for (const item of JSON.parse(input)) out.push(await one(item));
    process.stdout.write(JSON.stringify(out));
  });
};
