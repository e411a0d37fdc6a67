// The per-node L7 proxy. Connections to services whose YAML carries HTTP policy will be diverted
// here in the kernel and forwarded by YARP with per-route policy. Until routes come from the
// config, it starts with an empty in-memory route table and forwards nothing.
var builder = WebApplication.CreateBuilder(args);
builder.Services.AddReverseProxy().LoadFromMemory([], []);
var app = builder.Build();
app.MapReverseProxy();
app.Run();
