-- A mix of classic interpreter benchmark kernels for lua 5.4: binary
-- trees (allocation and GC), fannkuch (array permutation), n-body
-- (floating point), spectral norm, string building and pattern matching,
-- and a table-heavy word count.  Argument: scale (1 = quick).
local scale = tonumber(arg[1]) or 1

local function bottom_up(d)
  if d == 0 then return {} end
  d = d - 1
  return { bottom_up(d), bottom_up(d) }
end
local function check(t)
  if t[1] then return 1 + check(t[1]) + check(t[2]) end
  return 1
end
local function binary_trees(maxd)
  local total = 0
  for d = 4, maxd, 2 do
    local iters = 1 << (maxd - d + 4)
    for _ = 1, iters do total = total + check(bottom_up(d)) end
  end
  return total
end

local function fannkuch(n)
  local p, q, s, sign, maxflips, sum = {}, {}, {}, 1, 0, 0
  for i = 1, n do p[i] = i; q[i] = i; s[i] = i end
  while true do
    local q1 = p[1]
    if q1 ~= 1 then
      for i = 2, n do q[i] = p[i] end
      local flips = 1
      while true do
        local qq = q[q1]
        if qq == 1 then
          sum = sum + sign * flips
          if flips > maxflips then maxflips = flips end
          break
        end
        q[q1] = q1
        if q1 >= 4 then
          local i, j = 2, q1 - 1
          repeat q[i], q[j] = q[j], q[i]; i = i + 1; j = j - 1 until i >= j
        end
        q1 = qq; flips = flips + 1
      end
    end
    if sign == 1 then
      p[2], p[1] = p[1], p[2]; sign = -1
    else
      p[2], p[3] = p[3], p[2]; sign = 1
      for i = 3, n do
        local sx = s[i]
        if sx ~= 1 then s[i] = sx - 1; break end
        if i == n then return sum, maxflips end
        s[i] = i
        local t = p[1]; for j = 1, i do p[j] = p[j + 1] end; p[i + 1] = t
      end
    end
  end
end

local function nbody(steps)
  local pi, days = math.pi, 365.24
  local sm = 4 * pi * pi
  local B = {
    {0,0,0,0,0,0,sm},
    {4.84143144246472090e+00,-1.16032004402742839e+00,-1.03622044471123109e-01,
     1.66007664274403694e-03*days,7.69901118419740425e-03*days,-6.90460016972063023e-05*days,
     9.54791938424326609e-04*sm},
    {8.34336671824457987e+00,4.12479856412430479e+00,-4.03523417114321381e-01,
     -2.76742510726862411e-03*days,4.99852801234917238e-03*days,2.30417297573763929e-05*days,
     2.85885980666130812e-04*sm},
    {1.28943695621391310e+01,-1.51111514016986312e+01,-2.23307578892655734e-01,
     2.96460137564761618e-03*days,2.37847173959480950e-03*days,-2.96589568540237556e-05*days,
     4.36624404335156298e-05*sm},
    {1.53796971148509165e+01,-2.59193146099879641e+01,1.79258772950371181e-01,
     2.68067772490389322e-03*days,1.62824170038242295e-03*days,-9.51592254519715870e-05*days,
     5.15138902046611451e-05*sm},
  }
  local n = #B
  local function energy()
    local e = 0
    for i = 1, n do
      local b = B[i]
      e = e + 0.5 * b[7] * (b[4]^2 + b[5]^2 + b[6]^2)
      for j = i + 1, n do
        local c = B[j]
        local dx, dy, dz = b[1]-c[1], b[2]-c[2], b[3]-c[3]
        e = e - b[7] * c[7] / math.sqrt(dx*dx + dy*dy + dz*dz)
      end
    end
    return e
  end
  local e0 = energy()
  for _ = 1, steps do
    for i = 1, n do
      local b = B[i]
      for j = i + 1, n do
        local c = B[j]
        local dx, dy, dz = b[1]-c[1], b[2]-c[2], b[3]-c[3]
        local d2 = dx*dx + dy*dy + dz*dz
        local mag = 0.01 / (d2 * math.sqrt(d2))
        b[4] = b[4] - dx * c[7] * mag; b[5] = b[5] - dy * c[7] * mag; b[6] = b[6] - dz * c[7] * mag
        c[4] = c[4] + dx * b[7] * mag; c[5] = c[5] + dy * b[7] * mag; c[6] = c[6] + dz * b[7] * mag
      end
    end
    for i = 1, n do
      local b = B[i]
      b[1] = b[1] + 0.01 * b[4]; b[2] = b[2] + 0.01 * b[5]; b[3] = b[3] + 0.01 * b[6]
    end
  end
  return e0, energy()
end

local function spectral(n)
  local function A(i, j) local ij = i + j - 1; return 1.0 / (ij * (ij - 1) * 0.5 + i) end
  local function Av(x, y) for i = 1, n do local a = 0; for j = 1, n do a = a + x[j] * A(i, j) end; y[i] = a end end
  local function Atv(x, y) for i = 1, n do local a = 0; for j = 1, n do a = a + x[j] * A(j, i) end; y[i] = a end end
  local u, v, t = {}, {}, {}
  for i = 1, n do u[i] = 1 end
  for _ = 1, 10 do Av(u, t); Atv(t, v); Av(v, t); Atv(t, u) end
  local vBv, vv = 0, 0
  for i = 1, n do vBv = vBv + u[i] * v[i]; vv = vv + v[i] * v[i] end
  return math.sqrt(vBv / vv)
end

local function strings(n)
  local parts, seed = {}, 12345
  for i = 1, n do
    seed = (seed * 1103515245 + 12345) % 2147483648
    parts[#parts + 1] = string.format("%s%d-%x", ("w"):rep(1 + seed % 5), i, seed % 4096)
  end
  local s = table.concat(parts, " ")
  local count, words = 0, {}
  for w in s:gmatch("(w+)%d+%-") do words[w] = (words[w] or 0) + 1; count = count + 1 end
  local r = s:gsub("(%d+)%-(%x+)", function(a, b) return b .. ":" .. a end)
  local h = 0
  for i = 1, #r, 7 do h = (h * 31 + r:byte(i)) % 4294967296 end
  local ks = {}
  for k, v in pairs(words) do ks[#ks + 1] = k .. "=" .. v end
  table.sort(ks)
  return count, #r, h, table.concat(ks, ",")
end

print(string.format("lua: binary trees %d", binary_trees(12 + (scale > 1 and 2 or 0))))
print(string.format("lua: fannkuch(%d) %d %d", 8 + (scale > 1 and 1 or 0), fannkuch(8 + (scale > 1 and 1 or 0))))
print(string.format("lua: nbody %.9f %.9f", nbody(20000 * scale)))
print(string.format("lua: spectral %.9f", spectral(40 * scale)))
print(string.format("lua: strings %d %d %d %s", strings(20000 * scale)))
