// Labels pairs with Describe, Label and LabelStream through grpc-js, from teacher.proto alone.
// Usage: node label_client.mjs HOST:PORT PAIRS.json  → prints one JSON object.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";

const here = path.dirname(fileURLToPath(import.meta.url));
const protoRoot = path.join(here, "..", "..", "proto");
const options = { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true };
const teacherDef = protoLoader.loadSync("protege/v1/teacher.proto", { ...options, includeDirs: [protoRoot] });
const healthDef = protoLoader.loadSync("health.proto", { ...options, includeDirs: [here] });
const { Teacher } = grpc.loadPackageDefinition(teacherDef).protege.v1;
const { Health } = grpc.loadPackageDefinition(healthDef).grpc.health.v1;

const [target, pairsFile] = process.argv.slice(2);
const pairs = JSON.parse(readFileSync(pairsFile, "utf8"));
const credentials = grpc.credentials.createInsecure();
const teacher = new Teacher(target, credentials);
const health = new Health(target, credentials);
const deadline = () => new Date(Date.now() + 60_000);
const unary = (client, method, request) =>
  new Promise((resolve, reject) =>
    client[method](request, { deadline: deadline() }, (error, response) => (error ? reject(error) : resolve(response))),
  );

function labelStream(batches) {
  return new Promise((resolve, reject) => {
    const responses = [];
    const call = teacher.LabelStream({ deadline: deadline() });
    call.on("data", (response) => responses.push(response));
    call.on("error", reject);
    call.on("end", () => resolve(responses));
    for (const batch of batches) call.write({ pairs: batch });
    call.end();
  });
}

const describe = await unary(teacher, "Describe", {});
const healthResponse = await unary(health, "Check", { service: "protege.v1.Teacher" });
const label = await unary(teacher, "Label", { pairs });
const third = Math.ceil(pairs.length / 3);
const batches = [pairs.slice(0, third), pairs.slice(third, 2 * third), pairs.slice(2 * third)];
const stream = await labelStream(batches);
console.log(
  JSON.stringify({
    describe,
    health: healthResponse.status,
    label: label.labels,
    label_version: label.teacher_version,
    stream: stream.map((response) => ({ teacher_version: response.teacher_version, labels: response.labels })),
  }),
);
teacher.close();
health.close();
